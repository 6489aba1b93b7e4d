// Which browser origins may open streams, and the CORS headers that go with an allowed one.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "sidecar/config/config.hpp"

namespace sidecar {

class OriginPolicy {
 public:
  explicit OriginPolicy(const CorsConfig& config);

  // Requests without an Origin header (non-browser clients) are always allowed here.
  bool allows(std::string_view origin) const;
  // Headers for an allowed origin: the exact origin echoed with "Vary: Origin", or "*".
  std::vector<std::pair<std::string, std::string>> headers(std::string_view origin) const;

 private:
  std::vector<std::string> exact_;
  bool any_ = false;
};

}  // namespace sidecar
