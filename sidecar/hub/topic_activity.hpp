// When each topic last had an event and how many it had over the last minute, for GET /topics.
// Fed with every event the hub hands to the workers: this node's publishes, and with a shared
// engine every node's.
//
// A topic costs one entry (about 150 bytes) while it had an event within the window (a
// minute), and at most `max_topics` entries, never more than kMaxTopics, are kept (the least
// recently active go first): a per-user topic scheme churning through history.max_topics
// topics a minute must not add that many entries to what history itself costs. Recording is
// O(1): a hash lookup, a bucket and a move to the back of the recency list; the window is six
// 10-second buckets per topic.
//
// Thread contract: the hub's thread only.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "sidecar/core/string_map.hpp"

namespace sidecar {

class TopicActivity {
 public:
  static constexpr std::uint64_t kBucketMs = 10000;
  static constexpr std::size_t kBuckets = 6;
  static constexpr std::uint64_t kWindowMs = kBucketMs * kBuckets;

  struct Figures {
    std::uint64_t last_ms = 0;  // unix ms of its last event; 0 = none within the window
    // Events per second over the window: the current bucket (partly elapsed) and the five
    // before it, so from the last 50 to the last 60 seconds, divided by that span.
    double rate = 0;
  };

  // The most recently active topics it keeps at most, whatever history keeps (1.5 MB).
  static constexpr std::size_t kMaxTopics = 10000;

  explicit TopicActivity(std::size_t max_topics) : max_topics_(std::min(max_topics, kMaxTopics)) {}
  TopicActivity(const TopicActivity&) = delete;
  TopicActivity& operator=(const TopicActivity&) = delete;

  void set_max_topics(std::size_t max_topics);
  void record(std::string_view topic, std::uint64_t now_ms);
  Figures figures(std::string_view topic, std::uint64_t now_ms) const;
  // Forgets the topics without an event within the window, the oldest first.
  void expire(std::uint64_t now_ms);
  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    const std::string* name = nullptr;  // its key in entries_
    std::uint64_t last_ms = 0;
    std::uint64_t bucket = 0;  // index (now_ms / kBucketMs) of the newest bucket
    std::array<std::uint32_t, kBuckets> counts{};  // counts[bucket % kBuckets] is the newest
    Entry* prev = nullptr;                         // the recency list: least recently active first
    Entry* next = nullptr;
  };
  void unlink(Entry& e);
  void push_back(Entry& e);
  void forget(Entry& e);

  std::size_t max_topics_;
  StringMap<Entry> entries_;  // node-based: entries keep their address
  Entry* first_ = nullptr;
  Entry* last_ = nullptr;
};

}  // namespace sidecar
