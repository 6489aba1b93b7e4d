// An HTTP/1.1 response as the stream listener writes it (simple_response(), stream_head(), a
// Served head) taken apart for HTTP/2: its status, its header fields and the body after the
// head. One source for both protocols, so a refusal, a preflight or /sidecar.js answers with
// the same status, headers and body over either.
#pragma once

#include <string_view>

#include "sidecar/core/header_list.hpp"

namespace sidecar {

struct SplitResponse {
  int status = 0;  // 0 when `response` does not start with a status line
  HeaderList headers;
  std::string_view body;  // what follows the head, inside `response`
};

// Connection-specific fields stay in `headers`; HTTP/2 framing leaves them out when it sends.
SplitResponse split_response(std::string_view response);

}  // namespace sidecar
