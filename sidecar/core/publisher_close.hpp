// Why a publish socket connection ended: a label of the publisher close metric.
#pragma once

#include <cstdint>
#include <string_view>

namespace sidecar {

enum class PublisherClose : std::uint8_t {
  kClient,   // the publisher ended it (or went away)
  kRefused,  // its peer credentials may not publish
  kStalled,  // it read none of its replies for publish.reply_stall_timeout while waited on
  kDrain,    // shutdown
  kError,    // a socket error other than the publisher going away
  kCount
};
std::string_view to_string(PublisherClose reason);

}  // namespace sidecar
