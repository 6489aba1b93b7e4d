// Request heads from the network: the parser must never crash, over-read or accept a head
// longer than its bound; whatever it accepts must yield sane stream parameters or an error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "sidecar/net/http_request.hpp"
#include "sidecar/stream/stream_params.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  sidecar::HttpRequest request;
  std::string error;
  std::size_t consumed = 0;
  auto result = sidecar::parse_http_request(input, 1024, request, error, consumed);
  if (result != sidecar::HttpParse::kDone) return 0;
  if (consumed > input.size()) __builtin_trap();
  sidecar::Config config;
  sidecar::StreamParams params;
  if (sidecar::parse_stream_params(request, config, params, error)) {
    if (params.topics.empty() || params.topics.size() > config.limits.max_topics_per_stream) {
      __builtin_trap();
    }
  }
  return 0;
}
