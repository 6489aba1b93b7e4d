// The few HTTP responses the stream listener writes itself.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sidecar/core/header_list.hpp"

namespace sidecar {

std::string_view status_text(int status);

// A complete response that is not a stream (a file the listener serves): its head, and a body
// of static storage duration (empty for HEAD and 304). The connection closes once it is written.
struct Served {
  int status = 200;
  std::string head;
  std::string_view body;
};

// A complete response with a one-line plain-text body; the connection closes after it.
std::string simple_response(int status, std::string_view reason, const HeaderList& headers = {});

// The head of an event stream: chunked for HTTP/1.1, close-delimited for HTTP/1.0.
std::string stream_head(bool chunked, const HeaderList& headers);

}  // namespace sidecar
