// How many open streams listen to a topic, for the publish reply's "subscribers".
//
// Thread contract: workers add and remove subscriptions from their threads, the hub reads;
// every method takes the lock. Streams normalise their subscriptions (no pattern overlaps
// another of the same stream), so each stream matches a topic through one pattern at most.
#pragma once

#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sidecar/core/string_map.hpp"
#include "sidecar/core/topic.hpp"

namespace sidecar {

class SubscriberCounts {
 public:
  void add(const std::vector<TopicPattern>& patterns);
  void remove(const std::vector<TopicPattern>& patterns);
  // Streams matching any of `topics`, each stream once.
  std::size_t count(const std::vector<std::string>& topics) const;
  // Streams matching `topic`, through an exact subscription or a pattern.
  std::size_t count_topic(std::string_view topic) const;
  // The topics streams subscribe to exactly (patterns aside) that start with `prefix`, sorted:
  // GET /topics lists them. Costs the names that match.
  std::vector<std::string> exact_topics(std::string_view prefix) const;

 private:
  // The streams that share one list of patterns that can match several topics (two or more
  // patterns, or a wildcard). An event on several topics reaches such a stream once however
  // many of them it matches, so the per-topic sums are corrected by these. Streams on one exact
  // topic (the usual case) never need it.
  struct Overlap {
    std::vector<TopicPattern> patterns;
    std::size_t streams = 0;
  };

  std::size_t streams_on(std::string_view topic) const;  // REQUIRES: mutex_ held
  // Streams counted more than once in the per-topic sums for `topics`. REQUIRES: mutex_ held.
  std::size_t counted_twice(const std::vector<std::string>& topics) const;
  void adjust(const std::vector<TopicPattern>& patterns, long delta);
  void adjust_overlap(const std::vector<TopicPattern>& patterns, long delta);

  mutable std::mutex mutex_;
  StringMap<std::size_t> exact_;
  std::set<std::string_view> exact_names_;  // the keys of exact_, in order (changes as they do)
  StringMap<std::size_t> wildcard_;         // by stem ("a.b." for "a.b.*")
  std::unordered_map<std::string, Overlap> overlaps_;         // by the patterns' texts, joined
  StringMap<std::vector<const Overlap*>> overlaps_by_topic_;  // exact topics of each Overlap
  std::vector<const Overlap*> wildcard_overlaps_;             // those with a wildcard
};

}  // namespace sidecar
