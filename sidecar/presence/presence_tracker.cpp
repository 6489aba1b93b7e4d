#include "sidecar/presence/presence_tracker.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "sidecar/core/wall_clock.hpp"

namespace sidecar {

std::string_view to_string(PresenceChange::Action action) {
  return action == PresenceChange::Action::kJoin ? "join" : "leave";
}

PresenceTracker::PresenceTracker(std::function<void()> notify) : notify_(std::move(notify)) {}

void PresenceTracker::set_notify(std::function<void()> notify) {
  std::lock_guard lock(mutex_);
  notify_ = std::move(notify);
}

void PresenceTracker::configure(const PresenceConfig& config) {
  std::vector<Rule> rules;
  for (const auto& r : config.rules) {
    rules.push_back({TopicPattern::parse_all(r.topics), r.event_topic, r.webhook});
  }
  std::lock_guard lock(mutex_);
  rules_ = std::move(rules);
  enabled_.store(!rules_.empty(), std::memory_order_relaxed);
}

const PresenceTracker::Rule* PresenceTracker::rule_for(std::string_view topic) const {
  for (const auto& rule : rules_) {
    for (const auto& p : rule.topics) {
      if (p.matches(topic)) return &rule;
    }
  }
  return nullptr;
}

PresenceChange PresenceTracker::describe(PresenceChange::Action action, const std::string& topic,
                                         const std::string& subject) const {
  std::lock_guard lock(mutex_);
  PresenceChange change{action, topic, subject, "", false, unix_ms()};
  if (auto room = rooms_.find(topic); room != rooms_.end()) {
    change.event_topic = room->second.event_topic;
    change.webhook = room->second.webhook;
  } else if (const Rule* rule = rule_for(topic)) {
    if (!rule->event_topic.empty()) {
      change.event_topic = expand_topic_template(rule->event_topic, topic);
      if (!topic_error(change.event_topic).empty()) change.event_topic.clear();
    }
    change.webhook = rule->webhook;
  }
  return change;
}

void PresenceTracker::record(PresenceChange::Action action, const std::string& topic,
                             const Room& room, const std::string& subject) {
  pending_.push_back({action, topic, subject, room.event_topic, room.webhook, unix_ms()});
}

std::vector<std::string> PresenceTracker::join(const std::string& subject,
                                               const std::vector<TopicPattern>& topics) {
  std::vector<std::string> tracked;
  std::function<void()> notify;
  {
    std::lock_guard lock(mutex_);
    bool was_empty = pending_.empty();
    for (const auto& p : topics) {
      if (p.is_wildcard()) continue;
      const std::string& topic = p.stem();
      auto room = rooms_.find(topic);
      if (room == rooms_.end()) {
        const Rule* rule = rule_for(topic);
        if (!rule) continue;
        Room fresh{rule->event_topic.empty() ? "" : expand_topic_template(rule->event_topic, topic),
                   rule->webhook,
                   {}};
        if (!fresh.event_topic.empty() && !topic_error(fresh.event_topic).empty()) {
          // The template was checked with a short sample; a long topic can still overflow.
          spdlog::warn("presence of '{}': event topic '{}' is not a valid topic; not published",
                       topic, fresh.event_topic);
          fresh.event_topic.clear();
        }
        room = rooms_.emplace(topic, std::move(fresh)).first;
      }
      tracked.push_back(topic);
      auto& streams = room->second.streams[subject];
      if (++streams == 1) record(PresenceChange::Action::kJoin, topic, room->second, subject);
    }
    if (was_empty && !pending_.empty()) notify = notify_;
  }
  if (notify) notify();
  return tracked;
}

void PresenceTracker::leave(const std::string& subject, const std::vector<std::string>& tracked) {
  if (tracked.empty()) return;
  std::function<void()> notify;
  {
    std::lock_guard lock(mutex_);
    bool was_empty = pending_.empty();
    for (const auto& topic : tracked) {
      auto room = rooms_.find(topic);
      if (room == rooms_.end()) continue;
      auto& streams = room->second.streams;
      auto it = streams.find(subject);
      if (it == streams.end()) continue;
      if (--it->second > 0) continue;
      streams.erase(it);
      record(PresenceChange::Action::kLeave, topic, room->second, subject);
      if (streams.empty()) rooms_.erase(room);
    }
    if (was_empty && !pending_.empty()) notify = notify_;
  }
  if (notify) notify();
}

std::vector<std::string> PresenceTracker::subjects(std::string_view topic) const {
  std::vector<std::string> out;
  {
    std::lock_guard lock(mutex_);
    auto room = rooms_.find(topic);
    if (room == rooms_.end()) return out;
    for (const auto& [subject, n] : room->second.streams) out.push_back(subject);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<PresenceChange> PresenceTracker::take() {
  std::lock_guard lock(mutex_);
  return std::exchange(pending_, {});
}

}  // namespace sidecar
