// Who is subscribed to which topic, for presence: a subject's first stream on a tracked topic
// is a join, its last one closing a leave. Only exact-topic subscriptions of identified
// subjects count (anonymous streams say nothing about who is there; a pattern such as
// `chat.*` is not "being in" any one topic).
//
// Thread contract: workers call join()/leave() from their threads, the admin listener calls
// subjects(), the main loop configure() and take(); every method takes the lock. Changes come
// out of take() in the order they happened.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "sidecar/config/config.hpp"
#include "sidecar/core/string_map.hpp"
#include "sidecar/core/topic.hpp"

namespace sidecar {

struct PresenceChange {
  enum class Action : std::uint8_t { kJoin, kLeave };
  Action action = Action::kJoin;
  std::string topic;
  std::string subject;
  std::string event_topic;  // where the event goes; "" = no event
  bool webhook = false;     // whether the webhook hears of it
  std::uint64_t time_ms = 0;
};

std::string_view to_string(PresenceChange::Action action);

class PresenceTracker {
 public:
  // `notify` runs (on the calling thread, outside the lock) when changes become pending.
  explicit PresenceTracker(std::function<void()> notify = nullptr);

  // New rules apply to topics nobody is tracked on yet; a topic already tracked keeps the
  // rule it started with until everyone has left, so every join gets its matching leave.
  void configure(const PresenceConfig& config);
  bool enabled() const { return enabled_.load(std::memory_order_relaxed); }
  void set_notify(std::function<void()> notify);

  // Returns the topics of `topics` that are tracked for `subject`; hand exactly these to
  // leave() when the stream ends.
  std::vector<std::string> join(const std::string& subject,
                                const std::vector<TopicPattern>& topics);
  void leave(const std::string& subject, const std::vector<std::string>& tracked);

  // Subjects currently on `topic`, sorted.
  std::vector<std::string> subjects(std::string_view topic) const;
  std::vector<PresenceChange> take();
  // A change for `topic` as the rules describe it (where its event goes, whether the webhook
  // hears of it): for leaves found elsewhere, such as those of a node that went away.
  PresenceChange describe(PresenceChange::Action action, const std::string& topic,
                          const std::string& subject) const;

 private:
  struct Rule {
    std::vector<TopicPattern> topics;
    std::string event_topic;
    bool webhook = false;
  };
  struct Room {
    std::string event_topic;  // expanded for this topic
    bool webhook = false;
    StringMap<std::size_t> streams;  // by subject
  };

  const Rule* rule_for(std::string_view topic) const;  // REQUIRES: mutex_ held
  void record(PresenceChange::Action action, const std::string& topic, const Room& room,
              const std::string& subject);  // REQUIRES: mutex_ held

  mutable std::mutex mutex_;
  std::vector<Rule> rules_;
  StringMap<Room> rooms_;
  std::vector<PresenceChange> pending_;
  std::function<void()> notify_;
  std::atomic<bool> enabled_{false};
};

}  // namespace sidecar
