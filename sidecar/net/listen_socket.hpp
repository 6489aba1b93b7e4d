// Listening TCP sockets from "host:port" addresses.
#pragma once

#include <string>

#include "sidecar/net/libevent.hpp"

namespace sidecar {

// A non-blocking, close-on-exec socket bound to `address` and listening; empty with `error`.
UniqueFd listen_tcp(const std::string& address, int backlog, std::string& error);

}  // namespace sidecar
