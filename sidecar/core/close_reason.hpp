// Why a stream connection ended: a label of the close metrics and of the access log.
#pragma once

#include <cstdint>
#include <string_view>

namespace sidecar {

// Why a stream connection ended.
enum class CloseReason : std::uint8_t {
  kClient,       // the client went away
  kSlow,         // unsent bytes passed subscriber_buffer_bytes
  kDrain,        // shutdown
  kRefused,      // answered with an HTTP error
  kAnswered,     // answered without a stream (CORS preflight)
  kTimeout,      // request headers not received in time
  kExpired,      // its credentials expired
  kRevoked,      // a reload withdrew its access
  kError,        // socket error while writing
  kMaxDuration,  // open for stream.max_duration; the client reconnects and resumes
  kBehind,       // its worker fell limits.worker_queue_bytes behind; it resumes from history
  kCount
};
std::string_view to_string(CloseReason reason);

}  // namespace sidecar
