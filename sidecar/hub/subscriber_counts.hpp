// How many open streams listen to a topic, for the publish reply's "subscribers".
//
// Thread contract: workers add and remove subscriptions from their threads, the hub reads;
// every method takes the lock. Streams normalise their subscriptions (no pattern overlaps
// another of the same stream), so each stream counts at most once per topic.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "sidecar/core/string_map.hpp"
#include "sidecar/core/topic.hpp"

namespace sidecar {

class SubscriberCounts {
 public:
  void add(const std::vector<TopicPattern>& patterns);
  void remove(const std::vector<TopicPattern>& patterns);
  // Streams matching any of `topics` (a stream on two of them counts twice).
  std::size_t count(const std::vector<std::string>& topics) const;

 private:
  std::size_t streams_on(std::string_view topic) const;  // REQUIRES: mutex_ held
  void adjust(const std::vector<TopicPattern>& patterns, long delta);

  mutable std::mutex mutex_;
  StringMap<std::size_t> exact_;
  StringMap<std::size_t> wildcard_;  // by stem ("a.b." for "a.b.*")
};

}  // namespace sidecar
