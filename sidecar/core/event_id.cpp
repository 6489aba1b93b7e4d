#include "sidecar/core/event_id.hpp"

#include "sidecar/core/units.hpp"

namespace sidecar {

std::string EventId::to_string() const {
  return std::to_string(epoch) + "-" + std::to_string(seq);
}

std::optional<EventId> EventId::parse(std::string_view text) {
  auto dash = text.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto epoch = parse_uint(text.substr(0, dash));
  auto seq = parse_uint(text.substr(dash + 1));
  if (!epoch || !seq) return std::nullopt;
  return EventId{*epoch, *seq};
}

}  // namespace sidecar
