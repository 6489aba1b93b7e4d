#include "sidecar/net/listen_socket.hpp"

#include <event2/util.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace sidecar {

UniqueFd listen_tcp(const std::string& address, int backlog, std::string& error) {
  sockaddr_storage ss{};
  int len = sizeof(ss);
  if (evutil_parse_sockaddr_port(address.c_str(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    error = "invalid address " + address;
    return {};
  }
  UniqueFd fd(::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  int one = 1;
  // SO_REUSEADDR lets a restart bind while old connections sit in TIME_WAIT; it does not let
  // two live processes share the port (that would need SO_REUSEPORT).
  if (!fd || ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
      ::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), static_cast<socklen_t>(len)) != 0 ||
      ::listen(fd.get(), backlog) != 0) {
    error = "cannot listen on " + address + ": " + std::strerror(errno);
    return {};
  }
  return fd;
}

}  // namespace sidecar
