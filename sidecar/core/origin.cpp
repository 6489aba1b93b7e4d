#include "sidecar/core/origin.hpp"

#include <algorithm>

#include "sidecar/core/units.hpp"

namespace sidecar {
namespace {

bool is_host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '[' ||
         c == ']' || c == ':';
}

}  // namespace

std::optional<Origin> Origin::parse(std::string_view text) {
  Origin o;
  auto sep = text.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  o.scheme.assign(text.substr(0, sep));
  std::transform(o.scheme.begin(), o.scheme.end(), o.scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (o.scheme == "http")
    o.port = 80;
  else if (o.scheme == "https")
    o.port = 443;
  else
    return std::nullopt;
  std::string_view rest = text.substr(sep + 3);
  // The port is after the last ':' outside an IPv6 literal's brackets.
  auto colon = rest.rfind(':');
  if (colon != std::string_view::npos && rest.find(']', colon) == std::string_view::npos) {
    auto port = parse_uint(rest.substr(colon + 1));
    if (!port || *port == 0 || *port > 65535) return std::nullopt;
    o.port = static_cast<unsigned>(*port);
    rest = rest.substr(0, colon);
  }
  o.host.assign(rest);
  std::transform(o.host.begin(), o.host.end(), o.host.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (o.host.empty() || !std::all_of(o.host.begin(), o.host.end(), is_host_char)) {
    return std::nullopt;
  }
  return o;
}

std::optional<OriginPattern> OriginPattern::parse(std::string_view text, std::string* error) {
  OriginPattern p;
  std::string copy(text);
  auto star = copy.find("://*.");
  if (star != std::string::npos) {
    p.wildcard_ = true;
    copy[star + 3] = 'x';  // parse with a placeholder label, then keep the suffix
  }
  auto origin = Origin::parse(copy);
  if (!origin || (p.wildcard_ && origin->host.size() < 3)) {
    if (error) {
      *error = "'" + std::string(text) +
               "' is not an origin such as https://app.example.com, https://*.example.com or \"*\"";
    }
    return std::nullopt;
  }
  p.origin_ = *origin;
  if (p.wildcard_) p.origin_.host.erase(0, 1);  // ".example.com"
  return p;
}

bool OriginPattern::matches(const Origin& o) const {
  if (o.scheme != origin_.scheme || o.port != origin_.port) return false;
  if (!wildcard_) return o.host == origin_.host;
  return o.host.size() > origin_.host.size() && o.host.ends_with(origin_.host);
}

}  // namespace sidecar
