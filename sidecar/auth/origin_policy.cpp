#include "sidecar/auth/origin_policy.hpp"

#include <algorithm>

namespace sidecar {

OriginPolicy::OriginPolicy(const CorsConfig& config) {
  for (const auto& origin : config.allow_origins) {
    if (origin == "*")
      any_ = true;
    else
      exact_.push_back(origin);
  }
}

bool OriginPolicy::allows(std::string_view origin) const {
  if (origin.empty() || any_) return true;
  return std::find(exact_.begin(), exact_.end(), origin) != exact_.end();
}

std::vector<std::pair<std::string, std::string>> OriginPolicy::headers(
    std::string_view origin) const {
  if (origin.empty()) return {};
  // An exact match is echoed (so a later credentials mode can rely on it); "*" is used only
  // when the origin is not individually listed. Credentials are never allowed with "*".
  if (std::find(exact_.begin(), exact_.end(), origin) != exact_.end()) {
    return {{"Access-Control-Allow-Origin", std::string(origin)}, {"Vary", "Origin"}};
  }
  if (any_) return {{"Access-Control-Allow-Origin", "*"}};
  return {};
}

}  // namespace sidecar
