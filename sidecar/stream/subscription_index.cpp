#include "sidecar/stream/subscription_index.hpp"

#include <algorithm>

namespace sidecar {

void SubscriptionIndex::add(StreamConn* conn, const std::vector<TopicPattern>& topics) {
  for (const auto& t : topics) (t.is_wildcard() ? wildcard_ : exact_)[t.stem()].push_back(conn);
}

void SubscriptionIndex::remove(StreamConn* conn, const std::vector<TopicPattern>& topics) {
  for (const auto& t : topics) {
    Map& map = t.is_wildcard() ? wildcard_ : exact_;
    auto it = map.find(t.stem());
    if (it == map.end()) continue;
    auto& list = it->second;
    auto pos = std::find(list.begin(), list.end(), conn);
    if (pos != list.end()) {
      *pos = list.back();
      list.pop_back();
    }
    if (list.empty()) map.erase(it);
  }
}

}  // namespace sidecar
