// What the stream listener does with a connection before it streams: admission of the
// connection itself (capacity, per-IP limits), routing of its request head (404, 405, CORS
// preflight, /sidecar.js, parameters), and admission of the stream once the access policy decided
// (per-subject limits). Each step either lets it through or says how to answer.
#pragma once

#include <optional>
#include <string>
#include <variant>

#include "sidecar/auth/access.hpp"
#include "sidecar/config/config.hpp"
#include "sidecar/core/close_reason.hpp"
#include "sidecar/core/header_list.hpp"
#include "sidecar/core/stream_stats.hpp"
#include "sidecar/net/http_request.hpp"
#include "sidecar/stream/connection_limits.hpp"
#include "sidecar/stream/http_response.hpp"
#include "sidecar/stream/stream_params.hpp"

namespace sidecar {

// A response that ends the connection once written (an error, or a preflight's 204).
struct Answer {
  int status = 503;
  std::string reason;
  HeaderList headers;
  CloseReason count_as = CloseReason::kRefused;
};

// A new connection, `open` being the count of open ones including it. On success the peer is
// counted in `limits` (release_ip() when it closes).
std::optional<Answer> admit_connection(std::size_t open, const std::string& peer,
                                       ConnectionLimits& limits, StreamStats& stats, bool draining);

// A request head: what to answer, the file it asks for (/sidecar.js), or the stream it asks for.
std::variant<Answer, Served, StreamParams> route_request(const HttpRequest& request,
                                                         const Config& config, AccessPolicy& access,
                                                         bool draining);

// The access policy's decision: the answer that refuses the stream, or nothing. On admission of
// an identified subject it is counted in `limits` (release_subject() when the stream ends).
std::optional<Answer> admit_stream(const AccessDecision& decision, ConnectionLimits& limits,
                                   StreamStats& stats);

}  // namespace sidecar
