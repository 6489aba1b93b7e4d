#include "sidecar/core/publisher_close.hpp"

namespace sidecar {

std::string_view to_string(PublisherClose reason) {
  switch (reason) {
    case PublisherClose::kClient:
      return "client";
    case PublisherClose::kRefused:
      return "refused";
    case PublisherClose::kStalled:
      return "stalled";
    case PublisherClose::kDrain:
      return "drain";
    case PublisherClose::kError:
      return "error";
    case PublisherClose::kCount:
      break;
  }
  return "unknown";
}

}  // namespace sidecar
