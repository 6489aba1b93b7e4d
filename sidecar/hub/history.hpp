// Per-topic event history, bounded by count, bytes and age, and the resume query over it.
//
// Thread contract: every method takes the internal lock, so the hub's thread appends while
// worker threads run resume queries. Events are shared references, so a query copies pointers,
// never payloads.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "sidecar/config/config.hpp"
#include "sidecar/core/topic.hpp"
#include "sidecar/sse/event.hpp"

namespace sidecar {

struct Replay {
  // True when events the client should have seen are gone (evicted, from another run, or the
  // id is unknown); the client is then told so instead of being silently shortchanged.
  bool missed = false;
  std::vector<EventRef> events;  // in id order, each once
  EventId newest;  // the last id issued when the query ran: where a client that missed starts
};

struct HistoryStats {
  std::size_t topics = 0;
  std::size_t events = 0;  // an event on several topics counts once per topic
  std::size_t bytes = 0;
};

// What a restart needs to resume exactly where this run stopped.
struct HistorySnapshot {
  struct Horizon {
    std::string topic;
    std::uint64_t evicted_seq = 0;  // events up to here are gone from this topic
  };
  std::vector<EventRef> events;   // each once, in id order
  std::vector<Horizon> horizons;  // every remembered topic with events evicted
  std::uint64_t forgotten_seq = 0;
};

class History {
 public:
  using Clock = Event::Clock;

  History(std::uint64_t epoch, HistoryConfig limits) : epoch_(epoch), limits_(limits) {}

  void set_limits(const HistoryConfig& limits);
  // REQUIRES: events arrive in increasing id order.
  void append(const EventRef& event);
  // Drops events older than max_age and forgets topics that have been empty for max_age.
  void expire(Clock::time_point now);
  // Events on topics matched by `patterns` published after `last_id` (the client's
  // Last-Event-ID). `newest` is the last id issued so far, to recognise ids from the future.
  Replay since(const std::vector<TopicPattern>& patterns, std::string_view last_id,
               std::uint64_t newest_seq) const;
  HistoryStats stats() const;

  HistorySnapshot snapshot() const;
  // REQUIRES: nothing appended yet. Events past the limits are trimmed as they are added.
  void restore(const HistorySnapshot& snapshot);

 private:
  struct Topic {
    std::deque<EventRef> events;
    std::size_t bytes = 0;
    std::uint64_t evicted_seq = 0;   // highest seq dropped from this topic
    Clock::time_point emptied_at{};  // when `events` last became empty
  };

  void trim(Topic& topic, Clock::time_point now);
  void evict_front(Topic& topic);

  const std::uint64_t epoch_;
  mutable std::mutex mutex_;
  HistoryConfig limits_;
  std::map<std::string, Topic, std::less<>> topics_;  // ordered, for prefix scans by pattern
  std::uint64_t forgotten_seq_ = 0;  // highest evicted seq of topics no longer tracked
  std::size_t events_ = 0;
  std::size_t bytes_ = 0;
};

}  // namespace sidecar
