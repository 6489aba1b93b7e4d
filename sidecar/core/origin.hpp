// Web origins ("https://app.example.com:8443") and origin patterns with a wildcard subdomain
// ("https://*.example.com"). Comparison is on scheme, host and port, with default ports
// made explicit, so "https://a.com" and "https://a.com:443" are the same origin.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sidecar {

struct Origin {
  std::string scheme;  // "http" or "https"
  std::string host;    // lower case
  unsigned port = 0;   // explicit or the scheme's default

  // nullopt unless `text` is exactly scheme "://" host [":" port], without path or userinfo.
  static std::optional<Origin> parse(std::string_view text);
  friend bool operator==(const Origin&, const Origin&) = default;
};

class OriginPattern {
 public:
  // An origin, or one whose host starts with "*." (any subdomain, at any depth, not the bare
  // domain). nullopt with `error` otherwise.
  static std::optional<OriginPattern> parse(std::string_view text, std::string* error = nullptr);

  bool matches(const Origin& origin) const;

 private:
  Origin origin_;  // for wildcards, host holds the suffix including its leading '.'
  bool wildcard_ = false;
};

}  // namespace sidecar
