// Checks one stream's sequenced events (see payload_sequence): on every topic, each number must
// follow the one before it. A number skipped is lost, unless the server said so first with a
// `sidecar.missed` event (then it is counted as covered by that notice); a number seen again, or
// one going backwards, is duplicated.
//
// A stream usually has a topic or two: the topics' last numbers sit in a small vector, and the
// state survives a reconnect, so a resume with Last-Event-ID is checked across the seam.
#pragma once

#include <cstdint>
#include <vector>

namespace loadgen {

// What the checks of every stream found, summed.
struct SequenceStats {
  uint64_t checked = 0;     // sequenced events seen
  uint64_t lost = 0;        // numbers skipped with no notice before them
  uint64_t duplicated = 0;  // numbers not above the last one seen on their topic
  uint64_t covered = 0;     // numbers skipped right after a sidecar.missed notice
  uint64_t notices = 0;     // sidecar.missed notices
};

class SequenceCheck {
 public:
  // `first` is the number every topic starts at: events before the first one seen on a topic
  // are lost too. 0 takes the first number seen on a topic as its start.
  explicit SequenceCheck(uint64_t first = 0) : first_(first) {}

  void event(uint64_t topic, uint64_t seq, SequenceStats& stats);
  // A sidecar.missed notice: the next gap on each of the stream's topics is covered.
  void missed(SequenceStats& stats);

  // Numbers after the last one seen, up to `end`, summed over the topics seen.
  uint64_t shortfall(uint64_t end) const;
  // True when some topic was seen and every topic seen got as far as `end`.
  bool reached(uint64_t end) const;
  bool empty() const { return topics_.empty(); }

 private:
  struct Topic {
    uint64_t topic;
    uint64_t last;
    bool after_notice;
  };

  std::vector<Topic> topics_;
  uint64_t first_;
  bool notice_pending_ = false;  // a notice came before the topic's first event
};

}  // namespace loadgen
