// Which replies a socket publisher wants: every line's (the protocol's default, so a publisher
// can match replies to lines), only refusals', or none (fire and forget). A publisher that never
// reads must not be sent replies it will not read: they would fill its socket and pause it.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace sidecar {

enum class ReplyMode : std::uint8_t {
  kAll,     // one reply per line, in order
  kErrors,  // only {"ok":false,...} replies, in order
  kNone,    // no reply at all
};

// "all", "errors" or "none"; nullopt for anything else.
std::optional<ReplyMode> parse_reply_mode(std::string_view text);
std::string_view to_string(ReplyMode mode);

// Whether a reply with this outcome is written in `mode`.
constexpr bool wants_reply(ReplyMode mode, bool ok) {
  return mode == ReplyMode::kAll || (mode == ReplyMode::kErrors && !ok);
}

}  // namespace sidecar
