#include "sidecar/hub/topic_activity.hpp"

#include <algorithm>
#include <limits>

namespace sidecar {

void TopicActivity::set_max_topics(std::size_t max_topics) {
  max_topics_ = std::min(max_topics, kMaxTopics);
  while (entries_.size() > max_topics_ && first_) forget(*first_);
}

void TopicActivity::unlink(Entry& e) {
  (e.prev ? e.prev->next : first_) = e.next;
  (e.next ? e.next->prev : last_) = e.prev;
  e.prev = e.next = nullptr;
}

void TopicActivity::push_back(Entry& e) {
  e.prev = last_;
  e.next = nullptr;
  (last_ ? last_->next : first_) = &e;
  last_ = &e;
}

void TopicActivity::forget(Entry& e) {
  unlink(e);
  entries_.erase(entries_.find(*e.name));
}

void TopicActivity::record(std::string_view topic, std::uint64_t now_ms) {
  auto it = entries_.find(topic);
  if (it == entries_.end()) {
    if (max_topics_ == 0) return;
    while (entries_.size() >= max_topics_ && first_) forget(*first_);
    it = entries_.emplace(std::string(topic), Entry{}).first;
    it->second.name = &it->first;
  } else {
    unlink(it->second);
  }
  Entry& e = it->second;
  const std::uint64_t bucket = now_ms / kBucketMs;
  if (bucket > e.bucket) {
    // The buckets passed since its last event start empty; past a whole window, all of them.
    const std::uint64_t passed = std::min<std::uint64_t>(bucket - e.bucket, kBuckets);
    for (std::uint64_t i = 1; i <= passed; ++i) e.counts[(e.bucket + i) % kBuckets] = 0;
    e.bucket = bucket;
  }
  // A clock that went back counts into the newest bucket rather than rewriting older ones.
  auto& count = e.counts[e.bucket % kBuckets];
  if (count != std::numeric_limits<std::uint32_t>::max()) ++count;
  e.last_ms = std::max(e.last_ms, now_ms);
  push_back(e);
}

TopicActivity::Figures TopicActivity::figures(std::string_view topic, std::uint64_t now_ms) const {
  auto it = entries_.find(topic);
  if (it == entries_.end()) return {};
  const Entry& e = it->second;
  Figures out;
  out.last_ms = e.last_ms;
  const std::uint64_t bucket = now_ms / kBucketMs;
  if (bucket >= e.bucket + kBuckets) return out;  // nothing within the window
  // The buckets from (bucket - 5) to e.bucket, those of the window that hold counts.
  const std::uint64_t oldest = bucket >= kBuckets - 1 ? bucket - (kBuckets - 1) : 0;
  std::uint64_t events = 0;
  for (std::uint64_t b = std::max(oldest, e.bucket >= kBuckets - 1 ? e.bucket - (kBuckets - 1) : 0);
       b <= e.bucket; ++b) {
    events += e.counts[b % kBuckets];
  }
  const double span_ms = static_cast<double>((kBuckets - 1) * kBucketMs + now_ms % kBucketMs + 1);
  out.rate = static_cast<double>(events) * 1000.0 / span_ms;
  return out;
}

void TopicActivity::expire(std::uint64_t now_ms) {
  while (first_ && now_ms > first_->last_ms && now_ms - first_->last_ms > kWindowMs) {
    forget(*first_);
  }
}

}  // namespace sidecar
