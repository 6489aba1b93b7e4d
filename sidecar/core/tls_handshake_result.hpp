// How a TLS handshake on the stream listener ended: the label of sse_tls_handshakes_total. A
// small fixed set, so that a scan of garbage cannot grow the metrics.
#pragma once

#include <cstdint>
#include <string_view>

namespace sidecar {

enum class TlsHandshakeResult : std::uint8_t {
  kOk,
  kTimeout,          // not finished within limits.request_timeout of the accept
  kProtocolVersion,  // the client offers no version we speak (TLS 1.2 and 1.3)
  kNoSharedCipher,   // no cipher suite (or group) in common
  kAlpn,             // the client offers application protocols, none of them ours
  kNotTls,           // what arrived is not a TLS record (plain HTTP, garbage)
  kClosed,           // the client went away during the handshake
  kOther,            // anything else (bad certificate from a client, internal error)
  kCount
};
std::string_view to_string(TlsHandshakeResult result);

}  // namespace sidecar
