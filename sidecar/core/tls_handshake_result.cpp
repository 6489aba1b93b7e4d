#include "sidecar/core/tls_handshake_result.hpp"

namespace sidecar {

std::string_view to_string(TlsHandshakeResult result) {
  switch (result) {
    case TlsHandshakeResult::kOk:
      return "ok";
    case TlsHandshakeResult::kTimeout:
      return "timeout";
    case TlsHandshakeResult::kProtocolVersion:
      return "protocol_version";
    case TlsHandshakeResult::kNoSharedCipher:
      return "no_shared_cipher";
    case TlsHandshakeResult::kAlpn:
      return "alpn";
    case TlsHandshakeResult::kNotTls:
      return "not_tls";
    case TlsHandshakeResult::kClosed:
      return "closed";
    case TlsHandshakeResult::kOther:
    case TlsHandshakeResult::kCount:
      break;
  }
  return "other";
}

}  // namespace sidecar
