// How a stream is served: the label of sse_streams_open_by_protocol, of the access log's proto=
// and of GET /streams. A small fixed set.
#pragma once

#include <cstdint>
#include <string_view>

namespace sidecar {

enum class StreamProtocol : std::uint8_t {
  kH1,     // HTTP/1.x on listen.sse
  kH1Tls,  // HTTP/1.1 over TLS on listen.sse_tls
  kH2,     // HTTP/2 over TLS on listen.sse_tls (ALPN h2)
  kH2c,    // HTTP/2 with prior knowledge on listen.sse (a proxy that speaks HTTP/2 upstream)
  kCount
};
std::string_view to_string(StreamProtocol protocol);

// The name of an HTTP/2 error code (RFC 9113 7) as a metric label, lower case ("cancel",
// "refused_stream"); "other" past the codes the RFC defines, so a peer cannot grow the metrics.
std::string_view h2_error_name(std::uint32_t code);
// The labels h2_error_name() gives: the RFC's codes 0x0 to 0xd, then "other".
inline constexpr std::size_t kH2ErrorNames = 15;

}  // namespace sidecar
