// HTTP header fields as name/value pairs, in order: what requests carry and responses send.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace sidecar {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

}  // namespace sidecar
