// How far the topics history no longer tracks had gone: for each, the highest seq it lost, so
// that a resume from before that on such a topic is told it missed events.
//
// One global horizon would do that too, but under per-user or per-order topics (many topics,
// each forgotten soon after its event) it would make nearly every resume on an exact topic
// report a miss. A fixed table of horizons indexed by a hash of the topic name keeps them
// apart: two topics that share a slot share the higher horizon, so a collision can report a
// miss that did not happen (the client refreshes from its app), never hide one that did.
//
// Not thread-safe; History guards it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace sidecar {

class ForgottenHorizons {
 public:
  // Slots for a history that tracks up to `max_topics` topics. A false miss needs a topic
  // forgotten after the client's last id sharing its slot; those are the topics published
  // after it beyond what history holds, so twice max_topics slots keeps that rare for clients
  // away about as long as history covers.
  static std::size_t slots_for(std::size_t max_topics);

  explicit ForgottenHorizons(std::size_t slots);

  std::uint64_t get(std::string_view topic) const { return table_[slot(topic)]; }
  void raise(std::string_view topic, std::uint64_t seq);
  // Every topic lost events up to `seq` (a state file keeps only the global horizon).
  void raise_all(std::uint64_t seq);
  // REQUIRES: `slots` a power of two. Keeps every horizon: growing copies each slot to the
  // slots its names now hash to, shrinking merges slots by their highest horizon.
  void resize(std::size_t slots);
  std::size_t slots() const { return table_.size(); }
  std::size_t heap_bytes() const;

 private:
  std::size_t slot(std::string_view topic) const;

  std::vector<std::uint64_t> table_;  // a power of two in size
};

}  // namespace sidecar
