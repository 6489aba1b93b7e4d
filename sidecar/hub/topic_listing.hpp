// The topics as GET /topics lists them: every exact topic that has history or subscribers, in
// name order, a page of them at a time. The engine knows the history (this process's, or the
// whole service's in Redis); the hub adds this node's subscribers and recent activity.
//
// Why a page and a total, not every topic: history may track 100 000 topics and more. Building
// the answer costs the page (its limit), plus, with a prefix, a walk over the names that match
// it to count them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sidecar {

struct TopicQuery {
  std::string prefix;     // names starting with it ("" = every topic)
  std::size_t limit = 0;  // topics listed at most
  // Exact topics with streams on this node, starting with `prefix`, sorted: listed too when
  // history has nothing for them.
  std::vector<std::string> subscribed;
};

struct TopicFigures {
  std::string topic;
  std::size_t history_events = 0;     // retained (with a shared engine: in it, for every node)
  std::size_t history_bytes = 0;      // their frame bytes
  std::uint64_t last_publish_ms = 0;  // unix ms of its newest retained event; 0 = unknown
  // Filled by the hub.
  std::size_t subscribers = 0;  // streams on this node that receive its events
  double publish_rate = 0;      // events/s over the last minute, as this node saw them
};

struct TopicListing {
  std::size_t total = 0;             // topics that match, listed or not
  std::vector<TopicFigures> topics;  // the first `limit` of them by name
};

// The first `limit` names of two sorted lists merged (figures from `history`, the others with
// none), and how many distinct names both hold. REQUIRES: both sorted by name, each name once.
// `history_total` is how many `history` stands for when it holds only a first page of them.
TopicListing merge_topic_pages(std::vector<TopicFigures> history, std::size_t history_total,
                               const std::vector<std::string>& subscribed,
                               std::size_t subscribed_only, std::size_t limit);

}  // namespace sidecar
