// Single-node engine: ids from a local counter, history in process memory.
#pragma once

#include <atomic>
#include <deque>
#include <string>
#include <unordered_map>

#include "sidecar/hub/engine.hpp"
#include "sidecar/hub/history.hpp"

namespace sidecar {

class MemoryEngine final : public Engine {
 public:
  // `epoch` tells ids of this run from earlier ones (see event_id.hpp).
  // With `restored`, continues that saved run: its epoch, sequence and history.
  MemoryEngine(std::uint64_t epoch, const HistoryConfig& history, EventSink& sink,
               const SavedState* restored = nullptr);

  void publish(EventDraft draft, PublishDone done) override;
  void replay(const std::vector<TopicPattern>& patterns, std::string_view last_id,
              ReplayDone done) override;
  void latest(const std::vector<TopicPattern>& patterns, std::size_t per_topic, EventId up_to,
              ReplayDone done) override;
  EventId newest() const override;
  void expire() override;
  void configure(const HistoryConfig& history) override;
  HistoryStats stats() const override;
  void list_topics(TopicQuery query, TopicsDone done) override { done(history_.list(query)); }
  std::optional<SavedState> save() const override;
  bool disconnect(const std::string& subject, const std::string& topic) override {
    sink_.disconnect(subject, topic);  // one node: this one
    return true;
  }

 private:
  const std::uint64_t epoch_;
  EventSink& sink_;
  History history_;
  // Written by the hub thread; read by workers to recognise ids from the future.
  std::atomic<std::uint64_t> last_seq_{0};
  // Idempotency keys of the last history.max_age (hub thread), oldest first; at most
  // kMaxIdempotencyKeys, the oldest forgotten first.
  struct Keyed {
    std::string key;
    std::uint64_t seq;
    Event::Clock::time_point at;
  };
  std::deque<Keyed> keyed_;
  std::unordered_map<std::string, std::uint64_t> keys_;
  Millis key_window_;
};

}  // namespace sidecar
