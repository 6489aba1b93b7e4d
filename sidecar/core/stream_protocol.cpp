#include "sidecar/core/stream_protocol.hpp"

#include <array>

namespace sidecar {

std::string_view to_string(StreamProtocol protocol) {
  switch (protocol) {
    case StreamProtocol::kH1:
      return "h1";
    case StreamProtocol::kH1Tls:
      return "h1+tls";
    case StreamProtocol::kH2:
      return "h2";
    case StreamProtocol::kH2c:
      return "h2c";
    case StreamProtocol::kCount:
      break;
  }
  return "h1";
}

std::string_view h2_error_name(std::uint32_t code) {
  static constexpr std::array<std::string_view, kH2ErrorNames - 1> kNames = {
      "no_error",
      "protocol_error",
      "internal_error",
      "flow_control_error",
      "settings_timeout",
      "stream_closed",
      "frame_size_error",
      "refused_stream",
      "cancel",
      "compression_error",
      "connect_error",
      "enhance_your_calm",
      "inadequate_security",
      "http_1_1_required",
  };
  return code < kNames.size() ? kNames[code] : "other";
}

}  // namespace sidecar
