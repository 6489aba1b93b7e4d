// The publish message shared by the socket and HTTP ingest: one JSON object such as
// {"topic":"chat.room1","event":"message","data":"hello","ref":7}, validated into an EventDraft,
// and the one-line JSON reply to it. On the socket a line may instead be a control line,
// {"replies":"all"|"errors"|"none"}, choosing which replies the connection gets from then on.
#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "sidecar/config/config.hpp"
#include "sidecar/core/event_draft.hpp"
#include "sidecar/core/metrics.hpp"
#include "sidecar/ingest/reply_mode.hpp"

namespace sidecar {

inline constexpr std::size_t kMaxTopicsPerEvent = 64;
inline constexpr std::size_t kMaxEventNameBytes = 256;
inline constexpr std::size_t kMaxIdempotencyKeyBytes = 200;

struct PublishMessage {
  bool ok = false;
  EventDraft draft;
  std::string ref;  // the `ref` value as JSON text, echoed in the reply; empty when absent
  std::string error;
  IngestError kind = IngestError::kMalformed;
  // Set (with ok) for a control line: the replies wanted from now on. No event then.
  std::optional<ReplyMode> replies;
};

// Validates one message object. `max_event_bytes` bounds the payload plus event name.
PublishMessage parse_publish_value(const rapidjson::Value& value, std::size_t max_event_bytes);
// Parses and validates one NDJSON line of the socket: a message or a control line.
PublishMessage parse_publish_line(std::string_view line, std::size_t max_event_bytes);

// Validates topic and event name given outside JSON (POST /publish/{topic}?event=...).
PublishMessage make_raw_publish(std::string_view topic, std::string_view event, std::string data,
                                std::size_t max_event_bytes);

// {"ok":true,"id":"…","subscribers":N[,"duplicate":true][,"ref":…]}; a duplicate is a retry
// (same idempotency_key) answered with the first publish's id, no event made.
std::string publish_ok_reply(std::string_view id, std::size_t subscribers, std::string_view ref,
                             bool duplicate = false);
// {"ok":true,"replies":"…"}: a control line taken.
std::string publish_control_reply(ReplyMode mode);
// {"ok":false,"error":"…"[,"ref":…]}
std::string publish_error_reply(std::string_view error, std::string_view ref);

}  // namespace sidecar
