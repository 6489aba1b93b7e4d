#include "sidecar/hub/history.hpp"

#include <algorithm>

#include "sidecar/core/heap_cost.hpp"
#include "sidecar/core/wall_clock.hpp"

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

// A node of a libstdc++ red-black tree: colour and three links, then the value.
constexpr std::size_t kTreeNodeHeader = 32;

std::size_t index(Eviction reason) {
  return static_cast<std::size_t>(reason);
}

}  // namespace

std::string_view to_string(Eviction reason) {
  switch (reason) {
    case Eviction::kMaxEvents:
      return "max_events";
    case Eviction::kMaxBytes:
      return "max_bytes";
    case Eviction::kMaxAge:
      return "max_age";
    case Eviction::kMaxTotalBytes:
      return "max_total_bytes";
    case Eviction::kMaxTopics:
      return "max_topics";
    case Eviction::kCount:
      break;
  }
  return "unknown";
}

void History::TopicList::push_back(Topic* topic) {
  topic->prev = last;
  topic->next = nullptr;
  (last ? last->next : first) = topic;
  last = topic;
}

void History::TopicList::remove(Topic* topic) {
  (topic->prev ? topic->prev->next : first) = topic->next;
  (topic->next ? topic->next->prev : last) = topic->prev;
  topic->prev = topic->next = nullptr;
}

History::History(std::uint64_t epoch, HistoryConfig limits)
    : epoch_(epoch), limits_(limits), forgotten_(ForgottenHorizons::slots_for(limits.max_topics)) {}

void History::set_limits(const HistoryConfig& limits) {
  std::lock_guard lock(mutex_);
  limits_ = limits;
  forgotten_.resize(ForgottenHorizons::slots_for(limits.max_topics));
  auto now = Clock::now();
  for (auto& [name, topic] : topics_) trim(topic, now);
  while (topics_.size() > limits_.max_topics) forget(*next_to_forget(), Eviction::kMaxTopics);
  enforce_total_bounds(now);
}

void History::recount(Topic& topic) {
  std::size_t own = heap_bytes(kTreeNodeHeader + sizeof(decltype(topics_)::value_type)) +
                    heap_bytes(*topic.name) + topic.events.heap_bytes();
  if (!topic.events.empty()) {
    own += heap_bytes(kTreeNodeHeader + sizeof(FrontIndex::value_type));
  }
  memory_ = memory_ - topic.own + own;
  topic.own = own;
}

History::Topic& History::find_or_add(const std::string& name, Clock::time_point now) {
  if (auto it = topics_.find(name); it != topics_.end()) return it->second;
  while (topics_.size() >= limits_.max_topics) forget(*next_to_forget(), Eviction::kMaxTopics);
  auto it = topics_.emplace(name, Topic{}).first;
  Topic& topic = it->second;
  topic.name = &it->first;
  // A topic seen before and forgotten lost its events up to its horizon.
  topic.evicted_seq = forgotten_.get(name);
  topic.emptied_at = now;
  empty_.push_back(&topic);
  recount(topic);
  return topic;
}

void History::append(const EventRef& event) {
  std::lock_guard lock(mutex_);
  const auto now = event->published();
  const std::size_t size = event->size();
  const std::size_t memory = event->memory();
  for (const auto& name : event->topics()) {
    Topic& topic = find_or_add(name, now);
    if (topic.events.empty()) {
      empty_.remove(&topic);
      by_front_.emplace(event->id().seq, &topic);
    } else {
      recent_.remove(&topic);
    }
    recent_.push_back(&topic);
    topic.events.push_back(event);
    topic.bytes += size;
    topic.held += memory;
    ++events_;
    bytes_ += size;
    memory_ += memory;
    recount(topic);
    trim(topic, now);
  }
  enforce_total_bounds(now);
}

void History::evict_front(Topic& topic, Eviction reason, Clock::time_point now) {
  EventRef front = topic.events.pop_front();
  const std::uint64_t seq = front->id().seq;
  topic.evicted_seq = std::max(topic.evicted_seq, seq);
  topic.bytes -= front->size();
  topic.held -= front->memory();
  bytes_ -= front->size();
  memory_ -= front->memory();
  --events_;
  ++counts_.evicted[index(reason)];
  // The topic keeps its place in the index under its new oldest event (the node is reused).
  auto node = by_front_.extract({seq, &topic});
  if (topic.events.empty()) {
    recent_.remove(&topic);
    empty_.push_back(&topic);
    topic.emptied_at = now;
  } else {
    node.value().first = topic.events.front()->id().seq;
    by_front_.insert(std::move(node));
  }
  recount(topic);
}

void History::trim(Topic& topic, Clock::time_point now) {
  while (!topic.events.empty()) {
    Eviction reason;
    if (topic.events.size() > limits_.max_events) {
      reason = Eviction::kMaxEvents;
    } else if (topic.bytes > limits_.max_bytes) {
      reason = Eviction::kMaxBytes;
    } else if (now - topic.events.front()->published() > limits_.max_age) {
      reason = Eviction::kMaxAge;
    } else {
      break;
    }
    evict_front(topic, reason, now);
  }
}

History::Topic* History::next_to_forget() const {
  return empty_.first ? empty_.first : recent_.first;
}

void History::forget(Topic& topic, Eviction reason) {
  std::uint64_t horizon = topic.evicted_seq;
  if (!topic.events.empty()) {
    horizon = std::max(horizon, topic.events.back()->id().seq);
    by_front_.erase({topic.events.front()->id().seq, &topic});
    recent_.remove(&topic);
  } else {
    empty_.remove(&topic);
  }
  counts_.evicted[index(reason)] += topic.events.size();
  ++counts_.forgotten[index(reason)];
  events_ -= topic.events.size();
  bytes_ -= topic.bytes;
  memory_ -= topic.held + topic.own;
  // Moved to the horizons of forgotten topics: its own for exact resumes, the global one for
  // patterns (which cannot tell which forgotten topics they would have matched).
  forgotten_.raise(*topic.name, horizon);
  forgotten_seq_ = std::max(forgotten_seq_, horizon);
  topics_.erase(topics_.find(*topic.name));
}

void History::enforce_total_bounds(Clock::time_point now) {
  while (memory_ > limits_.max_total_bytes) {
    // An empty topic only keeps a horizon, which its forgotten horizon keeps as well: letting
    // it go first keeps every event a little longer.
    if (empty_.first) {
      forget(*empty_.first, Eviction::kMaxTotalBytes);
    } else if (!by_front_.empty()) {
      evict_front(*by_front_.begin()->second, Eviction::kMaxTotalBytes, now);
    } else {
      break;
    }
  }
}

void History::expire(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  // The oldest events first, from the front of the index: no walk over every topic.
  while (!by_front_.empty()) {
    Topic& oldest = *by_front_.begin()->second;
    if (now - oldest.events.front()->published() <= limits_.max_age) break;
    evict_front(oldest, Eviction::kMaxAge, now);
  }
  // An empty topic is still remembered for a while so that a resume can tell "nothing was
  // published" from "events were evicted"; once forgotten, its horizon is kept per hashed
  // name (and globally for patterns), which is conservative: it may report a miss that did
  // not happen, never the reverse.
  while (empty_.first && now - empty_.first->emptied_at > limits_.max_age) {
    forget(*empty_.first, Eviction::kMaxAge);
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
  auto collect = [&](const Topic& topic) {
    if (topic.evicted_seq > id->seq) replay.missed = true;
    for (std::size_t i = topic.events.first_after(id->seq); i < topic.events.size(); ++i) {
      replay.events.push_back(topic.events[i]);
    }
  };
  for (const auto& pattern : patterns) {
    if (!pattern.is_wildcard()) {
      if (auto it = topics_.find(pattern.stem()); it != topics_.end()) {
        collect(it->second);
      } else if (forgotten_.get(pattern.stem()) > id->seq) {
        replay.missed = true;
      }
      continue;
    }
    if (forgotten_seq_ > id->seq) replay.missed = true;
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

Replay History::latest(const std::vector<TopicPattern>& patterns, std::size_t per_topic,
                       EventId up_to) const {
  Replay replay;
  replay.newest = up_to;
  if (up_to.epoch != epoch_ || per_topic == 0) return replay;
  std::lock_guard lock(mutex_);
  auto collect = [&](const Topic& topic) {
    std::size_t end = topic.events.first_after(up_to.seq);
    for (std::size_t i = end - std::min(end, per_topic); i < end; ++i) {
      replay.events.push_back(topic.events[i]);
    }
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
  // An event on several requested topics is found once per topic.
  in_id_order_once(replay.events);
  return replay;
}

HistorySnapshot History::snapshot() const {
  std::lock_guard lock(mutex_);
  HistorySnapshot out;
  out.forgotten_seq = forgotten_seq_;
  for (const auto& [name, topic] : topics_) {
    if (topic.evicted_seq > 0) out.horizons.push_back({name, topic.evicted_seq});
    for (std::size_t i = 0; i < topic.events.size(); ++i) out.events.push_back(topic.events[i]);
  }
  in_id_order_once(out.events);
  return out;
}

void History::restore(const HistorySnapshot& snapshot) {
  auto now = Clock::now();
  {
    std::lock_guard lock(mutex_);
    for (const auto& h : snapshot.horizons) {
      find_or_add(h.topic, now).evicted_seq = h.evicted_seq;
    }
  }
  for (const auto& event : snapshot.events) append(event);
  std::lock_guard lock(mutex_);
  // The saved run's forgotten topics are not known one by one: each topic not tracked now
  // takes the highest of their horizons.
  forgotten_.raise_all(snapshot.forgotten_seq);
  forgotten_seq_ = std::max(forgotten_seq_, snapshot.forgotten_seq);
  enforce_total_bounds(now);
}

TopicListing History::list(const TopicQuery& query) const {
  // Publish times are steady-clock points; the listing speaks unix ms.
  const auto steady_now = Clock::now();
  const std::uint64_t unix_now = unix_ms();
  auto unix_of = [&](Clock::time_point t) -> std::uint64_t {
    auto ago = std::chrono::duration_cast<std::chrono::milliseconds>(steady_now - t).count();
    return ago < 0 || static_cast<std::uint64_t>(ago) > unix_now
               ? unix_now
               : unix_now - static_cast<std::uint64_t>(ago);
  };
  std::vector<TopicFigures> page;
  std::size_t matching = 0;
  std::size_t subscribed_only = 0;
  {
    std::lock_guard lock(mutex_);
    // Every topic matches an empty prefix: the count is known without the walk.
    const bool all = query.prefix.empty();
    if (all) matching = topics_.size();
    for (auto it = topics_.lower_bound(query.prefix);
         it != topics_.end() && it->first.starts_with(query.prefix); ++it) {
      if (all && page.size() >= query.limit) break;
      if (!all) ++matching;
      if (page.size() >= query.limit) continue;  // counted only
      const Topic& topic = it->second;
      TopicFigures f;
      f.topic = it->first;
      f.history_events = topic.events.size();
      f.history_bytes = topic.bytes;
      if (!topic.events.empty()) f.last_publish_ms = unix_of(topic.events.back()->published());
      page.push_back(std::move(f));
    }
    for (const auto& name : query.subscribed) subscribed_only += topics_.count(name) == 0;
  }
  return merge_topic_pages(std::move(page), matching, query.subscribed, subscribed_only,
                           query.limit);
}

HistoryStats History::stats() const {
  std::lock_guard lock(mutex_);
  HistoryStats out = counts_;
  out.topics = topics_.size();
  out.events = events_;
  out.bytes = bytes_;
  out.memory = memory_;
  return out;
}

}  // namespace sidecar
