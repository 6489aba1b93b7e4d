#include "sidecar/core/metrics.hpp"

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
    case CloseReason::kCount:
      break;
  }
  return "unknown";
}

std::string_view to_string(IngestError kind) {
  switch (kind) {
    case IngestError::kMalformed:
      return "malformed";
    case IngestError::kInvalid:
      return "invalid";
    case IngestError::kTooLarge:
      return "too_large";
    case IngestError::kLineTooLong:
      return "line_too_long";
    case IngestError::kForbidden:
      return "forbidden";
    case IngestError::kRateLimited:
      return "rate_limited";
    case IngestError::kUnauthorized:
      return "unauthorized";
    case IngestError::kCount:
      break;
  }
  return "unknown";
}

}  // namespace sidecar
