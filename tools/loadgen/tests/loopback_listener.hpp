// A listening TCP socket on 127.0.0.1 and a free port, for the tests' small stand-in servers.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>

#include "sidecar/net/libevent.hpp"

namespace loadgen::test {

struct LoopbackListener {
  sidecar::UniqueFd fd;
  sockaddr_in address{};
};

inline LoopbackListener listen_on_loopback(int backlog) {
  LoopbackListener l;
  l.fd.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  l.address.sin_family = AF_INET;
  l.address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof l.address;
  REQUIRE(::bind(l.fd.get(), reinterpret_cast<sockaddr*>(&l.address), sizeof l.address) == 0);
  REQUIRE(::listen(l.fd.get(), backlog) == 0);
  REQUIRE(::getsockname(l.fd.get(), reinterpret_cast<sockaddr*>(&l.address), &len) == 0);
  return l;
}

}  // namespace loadgen::test
