// `http://host[:port]/target` and `https://host[:port]/target` URLs, and resolving their host
// once at startup.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace loadgen {

struct HttpUrl {
  std::string host;  // as written, for the Host header (and TLS's SNI and name check)
  uint16_t port = 80;
  std::string target;  // path and query, starting with '/'; "/" when the URL has none
  bool https = false;

  uint16_t default_port() const { return https ? 443 : 80; }
  // host, with ":port" unless it is the scheme's default: the Host header, or :authority.
  std::string authority() const;
};

// nullopt with `error` set when `url` is neither an http:// nor an https:// URL.
std::optional<HttpUrl> parse_http_url(std::string_view url, std::string& error);

// Resolves `host` to an IPv4 address (blocking; call before the loop starts).
bool resolve_ipv4(const std::string& host, uint16_t port, sockaddr_in& out, std::string& error);

// Parses a dotted IPv4 address, adds `offset` to it (for consecutive source addresses).
bool ipv4_plus(const std::string& address, uint32_t offset, sockaddr_in& out);

}  // namespace loadgen
