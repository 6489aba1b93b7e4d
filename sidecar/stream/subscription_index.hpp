// A worker's map from topics to its streams, for fan-out. Exact topics and wildcard stems are
// kept apart so a delivery costs one lookup per prefix of the topic, not a scan of patterns.
//
// Removal is O(1), as Redis keeps a dict of clients per channel: each stream keeps, per pattern,
// its slot in that pattern's list, and leaving swaps the last entry into the slot. Closing n
// streams of one topic therefore costs O(n), not the O(n^2) of searching each list.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sidecar/core/string_map.hpp"
#include "sidecar/core/topic.hpp"

namespace sidecar {

struct StreamConn;

class SubscriptionIndex {
 public:
  // `slots` belongs to the stream and must stay untouched (same size, same storage) until
  // remove(): the index writes each pattern's position there.
  void add(StreamConn* conn, const std::vector<TopicPattern>& topics,
           std::vector<std::uint32_t>& slots);
  void remove(const std::vector<TopicPattern>& topics, std::vector<std::uint32_t>& slots);

  // Calls fn(StreamConn*) for every stream with an entry matching `topic`. The lists must not
  // change while it runs (streams that close meanwhile are removed later, at the reap).
  template <typename Fn>
  void for_each(std::string_view topic, Fn&& fn) const {
    visit(exact_, topic, fn);
    if (wildcard_.empty()) return;
    for (std::size_t i = 0; i < topic.size(); ++i) {
      if (i == 0 || topic[i - 1] == '.') visit(wildcard_, topic.substr(0, i), fn);
    }
  }

  // Streams subscribed to exactly `topic` (for tests and introspection).
  std::size_t count_exact(std::string_view topic) const;

 private:
  struct Entry {
    StreamConn* conn;
    std::uint32_t* slot;  // where the stream keeps this entry's position
  };
  using Map = StringMap<std::vector<Entry>>;

  template <typename Fn>
  static void visit(const Map& map, std::string_view key, Fn& fn) {
    auto it = map.find(key);
    if (it == map.end()) return;
    for (const Entry& e : it->second) fn(e.conn);
  }

  Map exact_;
  Map wildcard_;  // by stem: "a.b." for "a.b.*", "" for "*"
};

}  // namespace sidecar
