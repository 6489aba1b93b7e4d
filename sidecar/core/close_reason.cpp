#include "sidecar/core/close_reason.hpp"

namespace sidecar {

std::string_view to_string(CloseReason reason) {
  switch (reason) {
    case CloseReason::kClient:
      return "client";
    case CloseReason::kSlow:
      return "slow_consumer";
    case CloseReason::kDrain:
      return "drain";
    case CloseReason::kRefused:
      return "refused";
    case CloseReason::kAnswered:
      return "answered";
    case CloseReason::kExpired:
      return "expired";
    case CloseReason::kRevoked:
      return "revoked";
    case CloseReason::kTimeout:
      return "timeout";
    case CloseReason::kError:
      return "error";
    case CloseReason::kMaxDuration:
      return "max_duration";
    case CloseReason::kBehind:
      return "worker_behind";
    case CloseReason::kCount:
      break;
  }
  return "unknown";
}

}  // namespace sidecar
