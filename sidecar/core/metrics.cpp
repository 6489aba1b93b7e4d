#include "sidecar/core/metrics.hpp"

namespace sidecar {

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
