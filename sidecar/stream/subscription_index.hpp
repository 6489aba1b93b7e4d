// A worker's map from topics to its streams, for fan-out. Exact topics and wildcard stems are
// kept apart so a delivery costs one lookup per prefix of the topic, not a scan of patterns.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "sidecar/core/string_map.hpp"
#include "sidecar/core/topic.hpp"

namespace sidecar {

struct StreamConn;

class SubscriptionIndex {
 public:
  void add(StreamConn* conn, const std::vector<TopicPattern>& topics);
  void remove(StreamConn* conn, const std::vector<TopicPattern>& topics);

  // Calls fn(StreamConn*) for every stream with an entry matching `topic`.
  template <typename Fn>
  void for_each(std::string_view topic, Fn&& fn) const {
    visit(exact_, topic, fn);
    if (wildcard_.empty()) return;
    for (std::size_t i = 0; i < topic.size(); ++i) {
      if (i == 0 || topic[i - 1] == '.') visit(wildcard_, topic.substr(0, i), fn);
    }
  }

 private:
  using Map = StringMap<std::vector<StreamConn*>>;

  template <typename Fn>
  static void visit(const Map& map, std::string_view key, Fn& fn) {
    auto it = map.find(key);
    if (it == map.end()) return;
    for (StreamConn* conn : it->second) fn(conn);
  }

  Map exact_;
  Map wildcard_;  // by stem: "a.b." for "a.b.*", "" for "*"
};

}  // namespace sidecar
