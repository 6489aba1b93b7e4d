// Event history, bounded per topic (count, bytes, age) and over every topic (the memory it
// really costs, and the topics it tracks), and the resume query over it.
//
// Over every topic the oldest goes first: the globally oldest event when memory is over
// history.max_total_bytes (topics are indexed by the seq of their oldest event), the least
// recently published topic, whole, when there are more than history.max_topics (empty
// remembered topics before any other, in both cases). Appending costs O(log topics) only when
// it evicts; a topic forgotten leaves its horizon in ForgottenHorizons.
//
// Thread contract: every method takes the internal lock, so the hub's thread appends while
// worker threads run resume queries. Events are shared references, so a query copies pointers,
// never payloads.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sidecar/config/config.hpp"
#include "sidecar/core/topic.hpp"
#include "sidecar/hub/event_ring.hpp"
#include "sidecar/hub/forgotten_horizons.hpp"
#include "sidecar/hub/topic_listing.hpp"
#include "sidecar/sse/event.hpp"

namespace sidecar {

struct Replay {
  // True when events the client should have seen are gone (evicted, from another run, or the
  // id is unknown); the client is then told so instead of being silently shortchanged.
  bool missed = false;
  std::vector<EventRef> events;  // in id order, each once
  EventId newest;  // the last id issued when the query ran: where a client that missed starts
};

// Why history let go of an event (or, for the last three, of a whole topic).
enum class Eviction : std::uint8_t {
  kMaxEvents,      // history.max_events of its topic
  kMaxBytes,       // history.max_bytes of its topic
  kMaxAge,         // history.max_age; a topic: empty for max_age
  kMaxTotalBytes,  // history.max_total_bytes over every topic
  kMaxTopics,      // history.max_topics: its topic was the least recently published
  kCount
};
std::string_view to_string(Eviction reason);

struct HistoryStats {
  std::size_t topics = 0;
  std::size_t events = 0;  // an event on several topics counts once per topic
  std::size_t bytes = 0;   // frame bytes, once per topic
  // What history.max_total_bytes counts: every retained event's heap cost once per topic it
  // is on (conservative: such an event is in memory once), plus each topic's own.
  std::size_t memory = 0;
  std::array<std::uint64_t, static_cast<std::size_t>(Eviction::kCount)> evicted{};    // events
  std::array<std::uint64_t, static_cast<std::size_t>(Eviction::kCount)> forgotten{};  // topics
};

// What a restart needs to resume exactly where this run stopped.
struct HistorySnapshot {
  struct Horizon {
    std::string topic;
    std::uint64_t evicted_seq = 0;  // events up to here are gone from this topic
  };
  std::vector<EventRef> events;   // each once, in id order
  std::vector<Horizon> horizons;  // every remembered topic with events evicted
  // The highest seq of topics no longer tracked. Their horizons per topic are not saved: a
  // restored history applies this one to every topic it does not track (conservative).
  std::uint64_t forgotten_seq = 0;
};

class History {
 public:
  using Clock = Event::Clock;

  History(std::uint64_t epoch, HistoryConfig limits);
  History(const History&) = delete;
  History& operator=(const History&) = delete;

  void set_limits(const HistoryConfig& limits);
  // REQUIRES: events arrive in increasing id order.
  void append(const EventRef& event);
  // Drops events older than max_age and forgets topics that have been empty for max_age.
  // REQUIRES: publish times follow ids (as the engine gives them), so the oldest event is the
  // one with the lowest id.
  void expire(Clock::time_point now);
  // Events on topics matched by `patterns` published after `last_id` (the client's
  // Last-Event-ID). `newest` is the last id issued so far, to recognise ids from the future.
  Replay since(const std::vector<TopicPattern>& patterns, std::string_view last_id,
               std::uint64_t newest_seq) const;
  // The newest `per_topic` events with a seq up to `up_to` of each topic matched by `patterns`
  // (see Engine::latest).
  Replay latest(const std::vector<TopicPattern>& patterns, std::size_t per_topic,
                EventId up_to) const;
  HistoryStats stats() const;
  // The topics tracked (with events, or remembered without for max_age) merged with
  // `query.subscribed`, a page of them (see topic_listing.hpp). Costs the page and, with a
  // prefix, a walk over the names that match it to count them.
  TopicListing list(const TopicQuery& query) const;

  HistorySnapshot snapshot() const;
  // REQUIRES: nothing appended yet. Events past the limits are trimmed as they are added.
  void restore(const HistorySnapshot& snapshot);

 private:
  struct Topic;
  // Topics in the order they are to be forgotten, linked through the topics themselves.
  struct TopicList {
    Topic* first = nullptr;
    Topic* last = nullptr;
    void push_back(Topic* topic);
    void remove(Topic* topic);
  };
  struct Topic {
    EventRing events;
    const std::string* name = nullptr;  // the key of its node in topics_
    std::size_t bytes = 0;              // frame bytes of `events`
    std::size_t held = 0;               // heap cost of `events`
    std::size_t own = 0;                // heap cost of the topic itself, as last counted
    std::uint64_t evicted_seq = 0;      // highest seq dropped from this topic
    Clock::time_point emptied_at{};     // when `events` last became empty
    Topic* prev = nullptr;              // in recent_ while it has events, else in empty_
    Topic* next = nullptr;
  };
  using FrontIndex = std::set<std::pair<std::uint64_t, Topic*>>;

  Topic& find_or_add(const std::string& name, Clock::time_point now);
  void trim(Topic& topic, Clock::time_point now);
  void evict_front(Topic& topic, Eviction reason, Clock::time_point now);
  void forget(Topic& topic, Eviction reason);
  void enforce_total_bounds(Clock::time_point now);
  // The next topic max_topics or max_total_bytes lets go of whole: an empty one first.
  Topic* next_to_forget() const;
  void recount(Topic& topic);  // after `events` changed shape

  const std::uint64_t epoch_;
  mutable std::mutex mutex_;
  HistoryConfig limits_;
  std::map<std::string, Topic, std::less<>> topics_;  // ordered, for prefix scans by pattern
  FrontIndex by_front_;  // every topic with events, by the seq of its oldest
  TopicList recent_;     // topics with events, least recently published first
  TopicList empty_;      // remembered topics without events, emptied longest ago first
  ForgottenHorizons forgotten_;
  std::uint64_t forgotten_seq_ = 0;  // highest evicted seq of topics no longer tracked
  std::size_t events_ = 0;
  std::size_t bytes_ = 0;
  std::size_t memory_ = 0;
  HistoryStats counts_;  // its evicted and forgotten counters
};

}  // namespace sidecar
