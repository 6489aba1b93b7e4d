// Connecting to a local Unix stream socket as a client, for command-line tools that talk to the
// daemon (the publish command). The connect blocks, so this is never for the event loop.
#pragma once

#include <chrono>
#include <string>

#include "sidecar/net/libevent.hpp"

namespace sidecar {

// A close-on-exec socket connected to `path`; empty with `error` set to why, in words that say
// what to check: no such socket, permission denied, nothing listening, not a socket, or no
// accept within `timeout` (the listener's backlog is full).
UniqueFd connect_unix(const std::string& path, std::chrono::milliseconds timeout,
                      std::string& error);

}  // namespace sidecar
