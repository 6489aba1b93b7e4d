#include "sidecar/hub/history.hpp"

#include <algorithm>

namespace sidecar {
namespace {

// Events gathered from several topics, sorted by id with each event once (an event published
// to several topics sits in each of their lists).
void in_id_order_once(std::vector<EventRef>& events) {
  std::sort(events.begin(), events.end(),
            [](const EventRef& a, const EventRef& b) { return a->id().seq < b->id().seq; });
  events.erase(std::unique(events.begin(), events.end(),
                           [](const EventRef& a, const EventRef& b) { return a.get() == b.get(); }),
               events.end());
}

}  // namespace

void History::set_limits(const HistoryConfig& limits) {
  std::lock_guard lock(mutex_);
  limits_ = limits;
  auto now = Clock::now();
  for (auto& [name, topic] : topics_) trim(topic, now);
}

void History::append(const EventRef& event) {
  std::lock_guard lock(mutex_);
  for (const auto& name : event->topics()) {
    auto it = topics_.find(name);
    if (it == topics_.end()) it = topics_.emplace(name, Topic{}).first;
    Topic& topic = it->second;
    topic.events.push_back(event);
    topic.bytes += event->size();
    ++events_;
    bytes_ += event->size();
    trim(topic, event->published());
  }
}

void History::evict_front(Topic& topic) {
  const EventRef& front = topic.events.front();
  topic.evicted_seq = std::max(topic.evicted_seq, front->id().seq);
  topic.bytes -= front->size();
  bytes_ -= front->size();
  --events_;
  topic.events.pop_front();
}

void History::trim(Topic& topic, Clock::time_point now) {
  while (!topic.events.empty() &&
         (topic.events.size() > limits_.max_events || topic.bytes > limits_.max_bytes ||
          now - topic.events.front()->published() > limits_.max_age)) {
    evict_front(topic);
    if (topic.events.empty()) topic.emptied_at = now;
  }
}

void History::expire(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  for (auto it = topics_.begin(); it != topics_.end();) {
    Topic& topic = it->second;
    trim(topic, now);
    // An empty topic is still remembered for a while so that a resume can tell "nothing was
    // published" from "events were evicted"; once forgotten, its horizon moves to the global
    // one, which is conservative (it may report a miss that did not happen, never the reverse).
    if (topic.events.empty() && now - topic.emptied_at > limits_.max_age) {
      forgotten_seq_ = std::max(forgotten_seq_, topic.evicted_seq);
      it = topics_.erase(it);
    } else {
      ++it;
    }
  }
}

Replay History::since(const std::vector<TopicPattern>& patterns, std::string_view last_id,
                      std::uint64_t newest_seq) const {
  Replay replay;
  replay.newest = EventId{epoch_, newest_seq};
  auto id = EventId::parse(last_id);
  if (!id || id->epoch != epoch_ || id->seq > newest_seq) {
    replay.missed = true;
    return replay;
  }
  std::lock_guard lock(mutex_);
  if (forgotten_seq_ > id->seq) replay.missed = true;
  auto collect = [&](const Topic& topic) {
    if (topic.evicted_seq > id->seq) replay.missed = true;
    // Events are in id order: skip the already-seen prefix by binary search.
    auto first =
        std::upper_bound(topic.events.begin(), topic.events.end(), id->seq,
                         [](std::uint64_t seq, const EventRef& e) { return seq < e->id().seq; });
    replay.events.insert(replay.events.end(), first, topic.events.end());
  };
  for (const auto& pattern : patterns) {
    if (!pattern.is_wildcard()) {
      if (auto it = topics_.find(pattern.stem()); it != topics_.end()) collect(it->second);
      continue;
    }
    for (auto it = topics_.lower_bound(pattern.stem()); it != topics_.end(); ++it) {
      if (!it->first.starts_with(pattern.stem())) break;
      collect(it->second);
    }
  }
  in_id_order_once(replay.events);
  // A client that missed events refreshes from its app and then follows live events; replaying
  // the rest would re-apply stale events on top of fresh state.
  if (replay.missed) replay.events.clear();
  return replay;
}

HistorySnapshot History::snapshot() const {
  std::lock_guard lock(mutex_);
  HistorySnapshot out;
  out.forgotten_seq = forgotten_seq_;
  for (const auto& [name, topic] : topics_) {
    if (topic.evicted_seq > 0) out.horizons.push_back({name, topic.evicted_seq});
    out.events.insert(out.events.end(), topic.events.begin(), topic.events.end());
  }
  in_id_order_once(out.events);
  return out;
}

void History::restore(const HistorySnapshot& snapshot) {
  {
    std::lock_guard lock(mutex_);
    forgotten_seq_ = snapshot.forgotten_seq;
    auto now = Clock::now();
    for (const auto& h : snapshot.horizons) {
      Topic& topic = topics_[h.topic];
      topic.evicted_seq = h.evicted_seq;
      topic.emptied_at = now;
    }
  }
  for (const auto& event : snapshot.events) append(event);
}

HistoryStats History::stats() const {
  std::lock_guard lock(mutex_);
  return {topics_.size(), events_, bytes_};
}

}  // namespace sidecar
