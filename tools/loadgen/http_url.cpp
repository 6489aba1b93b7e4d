#include "tools/loadgen/http_url.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <charconv>
#include <cstring>

namespace loadgen {

std::optional<HttpUrl> parse_http_url(std::string_view url, std::string& error) {
  constexpr std::string_view kHttp = "http://";
  constexpr std::string_view kHttps = "https://";
  HttpUrl out;
  std::string_view rest;
  if (url.substr(0, kHttp.size()) == kHttp) {
    rest = url.substr(kHttp.size());
  } else if (url.substr(0, kHttps.size()) == kHttps) {
    rest = url.substr(kHttps.size());
    out.https = true;
    out.port = 443;
  } else {
    error.assign(url).append(" is not an http:// or https:// URL");
    return std::nullopt;
  }
  size_t slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  if (slash == std::string_view::npos) {
    out.target = "/";
  } else if (rest[slash] == '?') {
    out.target.assign("/").append(rest.substr(slash));
  } else {
    out.target = std::string(rest.substr(slash));
  }
  std::string_view host = authority;
  if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    std::string_view port = authority.substr(colon + 1);
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
      error = "bad port in '" + std::string(url) + "'";
      return std::nullopt;
    }
    out.port = static_cast<uint16_t>(value);
  }
  if (host.empty()) {
    error = "no host in '" + std::string(url) + "'";
    return std::nullopt;
  }
  out.host = std::string(host);
  return out;
}

std::string HttpUrl::authority() const {
  if (port == default_port()) return host;
  return host + ":" + std::to_string(port);
}

bool resolve_ipv4(const std::string& host, uint16_t port, sockaddr_in& out, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0 || !res) {
    error = "cannot resolve '" + host + "': " + gai_strerror(rc);
    return false;
  }
  std::memcpy(&out, res->ai_addr, sizeof out);
  out.sin_port = htons(port);
  freeaddrinfo(res);
  return true;
}

bool ipv4_plus(const std::string& address, uint32_t offset, sockaddr_in& out) {
  in_addr a{};
  if (inet_pton(AF_INET, address.c_str(), &a) != 1) return false;
  out = sockaddr_in{};
  out.sin_family = AF_INET;
  out.sin_port = 0;
  out.sin_addr.s_addr = htonl(ntohl(a.s_addr) + offset);
  return true;
}

}  // namespace loadgen
