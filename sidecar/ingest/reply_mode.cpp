#include "sidecar/ingest/reply_mode.hpp"

namespace sidecar {

std::optional<ReplyMode> parse_reply_mode(std::string_view text) {
  if (text == "all") return ReplyMode::kAll;
  if (text == "errors") return ReplyMode::kErrors;
  if (text == "none") return ReplyMode::kNone;
  return std::nullopt;
}

std::string_view to_string(ReplyMode mode) {
  switch (mode) {
    case ReplyMode::kAll:
      return "all";
    case ReplyMode::kErrors:
      return "errors";
    case ReplyMode::kNone:
      return "none";
  }
  return "all";
}

}  // namespace sidecar
