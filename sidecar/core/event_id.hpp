// Event ids: "<epoch>-<seq>". The epoch is the millisecond time the id sequence started (the
// daemon's start, unless a later state restore carries an older one forward), so ids from an
// earlier run are told apart from current ones; seq increases by one per event within a node.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sidecar {

struct EventId {
  std::uint64_t epoch = 0;
  std::uint64_t seq = 0;

  std::string to_string() const;
  static std::optional<EventId> parse(std::string_view text);

  friend auto operator<=>(const EventId&, const EventId&) = default;
};

}  // namespace sidecar
