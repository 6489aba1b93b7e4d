#include "sidecar/auth/origin_policy.hpp"

#include <algorithm>

namespace sidecar {

OriginPolicy::OriginPolicy(const CorsConfig& config)
    : credentials_(config.allow_credentials),
      allow_no_origin_(config.allow_no_origin),
      max_age_seconds_(static_cast<long>(config.max_age.count() / 1000)) {
  for (const auto& text : config.allow_origins) {
    if (text == "*")
      any_ = true;
    else if (auto p = OriginPattern::parse(text))
      patterns_.push_back(*p);
  }
}

bool OriginPolicy::listed(std::string_view origin) const {
  auto parsed = Origin::parse(origin);
  return parsed && std::any_of(patterns_.begin(), patterns_.end(),
                               [&](const OriginPattern& p) { return p.matches(*parsed); });
}

std::string OriginPolicy::refusal(std::string_view origin) const {
  if (origin.empty())
    return allow_no_origin_ ? "" : "requests without an Origin header are not accepted";
  if (any_ || listed(origin)) return {};
  return "origin not allowed (not in cors.allow_origins)";
}

HeaderList OriginPolicy::headers(std::string_view origin) const {
  if (origin.empty()) return {};
  if (listed(origin)) {
    HeaderList h{{"Access-Control-Allow-Origin", std::string(origin)}, {"Vary", "Origin"}};
    if (credentials_) h.emplace_back("Access-Control-Allow-Credentials", "true");
    return h;
  }
  if (any_) return {{"Access-Control-Allow-Origin", "*"}};
  return {};
}

HeaderList OriginPolicy::preflight_headers(std::string_view origin) const {
  HeaderList h = headers(origin);
  h.emplace_back("Access-Control-Allow-Methods", "GET, OPTIONS");
  h.emplace_back("Access-Control-Allow-Headers", "Authorization, Last-Event-ID, Cache-Control");
  h.emplace_back("Access-Control-Max-Age", std::to_string(max_age_seconds_));
  return h;
}

}  // namespace sidecar
