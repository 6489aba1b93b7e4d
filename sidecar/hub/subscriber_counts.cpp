#include "sidecar/hub/subscriber_counts.hpp"

#include <algorithm>

namespace sidecar {
namespace {

std::string key_of(const std::vector<TopicPattern>& patterns) {
  std::string key;
  for (const auto& p : patterns) {
    key += p.text();
    key.push_back(' ');  // never inside a topic
  }
  return key;
}

}  // namespace

void SubscriberCounts::add(const std::vector<TopicPattern>& patterns) {
  adjust(patterns, 1);
}
void SubscriberCounts::remove(const std::vector<TopicPattern>& patterns) {
  adjust(patterns, -1);
}

void SubscriberCounts::adjust(const std::vector<TopicPattern>& patterns, long delta) {
  std::lock_guard lock(mutex_);
  for (const auto& p : patterns) {
    auto& map = p.is_wildcard() ? wildcard_ : exact_;
    auto [it, added] = map.try_emplace(p.stem(), 0);
    // The ordered index changes only when a topic gains its first stream or loses its last:
    // never per publish.
    if (added && !p.is_wildcard()) exact_names_.insert(it->first);
    it->second = static_cast<std::size_t>(static_cast<long>(it->second) + delta);
    if (it->second == 0) {
      if (!p.is_wildcard()) exact_names_.erase(it->first);
      map.erase(it);
    }
  }
  // A stream can match two topics of one event through two patterns, or through one wildcard.
  if (patterns.size() >= 2 || (patterns.size() == 1 && patterns[0].is_wildcard())) {
    adjust_overlap(patterns, delta);
  }
}

void SubscriberCounts::adjust_overlap(const std::vector<TopicPattern>& patterns, long delta) {
  std::string key = key_of(patterns);
  auto [it, added] = overlaps_.try_emplace(key);
  Overlap& o = it->second;
  if (added) {
    o.patterns = patterns;
    for (const auto& p : patterns) {
      if (p.is_wildcard()) {
        if (wildcard_overlaps_.empty() || wildcard_overlaps_.back() != &o) {
          wildcard_overlaps_.push_back(&o);
        }
      } else {
        overlaps_by_topic_[p.stem()].push_back(&o);
      }
    }
  }
  o.streams = static_cast<std::size_t>(static_cast<long>(o.streams) + delta);
  if (o.streams != 0) return;
  for (const auto& p : o.patterns) {
    if (p.is_wildcard()) continue;
    auto list = overlaps_by_topic_.find(p.stem());
    list->second.erase(std::find(list->second.begin(), list->second.end(), &o));
    if (list->second.empty()) overlaps_by_topic_.erase(list);
  }
  auto w = std::find(wildcard_overlaps_.begin(), wildcard_overlaps_.end(), &o);
  if (w != wildcard_overlaps_.end()) wildcard_overlaps_.erase(w);
  overlaps_.erase(it);
}

std::size_t SubscriberCounts::streams_on(std::string_view topic) const {
  std::size_t total = 0;
  if (auto it = exact_.find(topic); it != exact_.end()) total += it->second;
  if (wildcard_.empty()) return total;
  // Every wildcard stem that matches is a prefix of the topic ending at a '.' (or "" for "*").
  for (std::size_t i = 0; i <= topic.size(); ++i) {
    if (i != 0 && topic[i - 1] != '.') continue;
    if (i == topic.size()) break;
    if (auto it = wildcard_.find(topic.substr(0, i)); it != wildcard_.end()) {
      total += it->second;
    }
  }
  return total;
}

std::size_t SubscriberCounts::counted_twice(const std::vector<std::string>& topics) const {
  // Only the overlaps that can match one of the topics: those naming one exactly, and those
  // with a pattern (few: patterns are for dashboards and ops, not per-user streams).
  std::vector<const Overlap*> candidates = wildcard_overlaps_;
  for (const auto& t : topics) {
    if (auto it = overlaps_by_topic_.find(t); it != overlaps_by_topic_.end()) {
      candidates.insert(candidates.end(), it->second.begin(), it->second.end());
    }
  }
  std::sort(candidates.begin(), candidates.end());
  candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
  std::size_t extra = 0;
  for (const Overlap* o : candidates) {
    std::size_t matched = 0;
    for (const auto& t : topics) {
      matched += std::any_of(o->patterns.begin(), o->patterns.end(),
                             [&](const TopicPattern& p) { return p.matches(t); });
    }
    if (matched > 1) extra += o->streams * (matched - 1);
  }
  return extra;
}

std::size_t SubscriberCounts::count(const std::vector<std::string>& topics) const {
  std::lock_guard lock(mutex_);
  std::size_t total = 0;
  for (const auto& t : topics) total += streams_on(t);
  if (topics.size() >= 2 && !overlaps_.empty()) total -= counted_twice(topics);
  return total;
}

std::size_t SubscriberCounts::count_topic(std::string_view topic) const {
  std::lock_guard lock(mutex_);
  return streams_on(topic);
}

std::vector<std::string> SubscriberCounts::exact_topics(std::string_view prefix) const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (auto it = exact_names_.lower_bound(prefix);
       it != exact_names_.end() && it->starts_with(prefix); ++it) {
    out.emplace_back(*it);
  }
  return out;
}

}  // namespace sidecar
