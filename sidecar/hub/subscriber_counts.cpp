#include "sidecar/hub/subscriber_counts.hpp"

namespace sidecar {

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
    auto& n = map[p.stem()];
    n = static_cast<std::size_t>(static_cast<long>(n) + delta);
    if (n == 0) map.erase(p.stem());
  }
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

std::size_t SubscriberCounts::count(const std::vector<std::string>& topics) const {
  std::lock_guard lock(mutex_);
  std::size_t total = 0;
  for (const auto& t : topics) total += streams_on(t);
  return total;
}

}  // namespace sidecar
