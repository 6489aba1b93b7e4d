// Which browser origins may open streams, and the CORS headers that go with an allowed one.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sidecar/config/config.hpp"
#include "sidecar/core/origin.hpp"

#include "sidecar/core/header_list.hpp"

namespace sidecar {

class OriginPolicy {
 public:
  explicit OriginPolicy(const CorsConfig& config);

  // Empty when `origin` (the Origin header, "" when absent) may open a stream; else why not.
  std::string refusal(std::string_view origin) const;
  // Headers for an allowed origin: a listed origin is echoed exactly, with "Vary: Origin" and,
  // when configured, credentials; an origin allowed only by "*" gets "*", never credentials.
  HeaderList headers(std::string_view origin) const;
  HeaderList preflight_headers(std::string_view origin) const;

 private:
  bool listed(std::string_view origin) const;

  std::vector<OriginPattern> patterns_;
  bool any_ = false;
  bool credentials_;
  bool allow_no_origin_;
  long max_age_seconds_;
};

}  // namespace sidecar
