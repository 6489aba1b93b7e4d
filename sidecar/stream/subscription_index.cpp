#include "sidecar/stream/subscription_index.hpp"

namespace sidecar {

void SubscriptionIndex::add(StreamConn* conn, const std::vector<TopicPattern>& topics,
                            std::vector<std::uint32_t>& slots) {
  slots.assign(topics.size(), 0);
  for (std::size_t i = 0; i < topics.size(); ++i) {
    const TopicPattern& t = topics[i];
    auto& list = (t.is_wildcard() ? wildcard_ : exact_)[t.stem()];
    slots[i] = static_cast<std::uint32_t>(list.size());
    list.push_back(Entry{conn, &slots[i]});
  }
}

void SubscriptionIndex::remove(const std::vector<TopicPattern>& topics,
                               std::vector<std::uint32_t>& slots) {
  for (std::size_t i = 0; i < topics.size() && i < slots.size(); ++i) {
    const TopicPattern& t = topics[i];
    Map& map = t.is_wildcard() ? wildcard_ : exact_;
    auto it = map.find(t.stem());
    if (it == map.end()) continue;
    auto& list = it->second;
    std::uint32_t pos = slots[i];
    if (pos >= list.size() || list[pos].slot != &slots[i]) continue;  // not ours: never added
    if (pos + 1 != list.size()) {
      list[pos] = list.back();
      *list[pos].slot = pos;
    }
    list.pop_back();
    if (list.empty()) map.erase(it);
  }
  slots.clear();
}

std::size_t SubscriptionIndex::count_exact(std::string_view topic) const {
  auto it = exact_.find(topic);
  return it == exact_.end() ? 0 : it->second.size();
}

}  // namespace sidecar
