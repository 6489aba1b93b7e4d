// The frames the sidecar itself sends on a stream, besides published events: the reconnect hint,
// the heartbeat comment, and the notices that tell a client why something happened. Built here,
// next to the event encoder, so every frame on the wire comes from the sse layer.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace sidecar {

// A comment line: keeps proxies from timing out an idle stream; clients ignore it.
inline constexpr std::string_view kSseHeartbeat = ":\n";
// The same as one HTTP/1.1 chunk.
inline constexpr std::string_view kSseHeartbeatChunk = "2\r\n:\n\r\n";

// `retry: <ms>` on its own: the reconnect delay the client uses from now on.
std::string sse_retry_frame(std::chrono::milliseconds delay);

// An event named `name` (sidecar.revoked, sidecar.expired) with data {"reason": reason} and no
// id: the client's resume position stays at the last real event.
std::string sse_notice_frame(std::string_view name, std::string_view reason);

// `sidecar.missed`, instead of a silent gap: it carries `newest_id` as its id, so the client's
// next reconnect resumes from there rather than reporting the same gap again.
std::string sse_missed_frame(std::string_view newest_id, std::string_view last_event_id);

}  // namespace sidecar
