// The service manager (systemd) interface: readiness and state notifications (Type=notify),
// the watchdog, and sockets handed over by socket activation. Outside systemd every call is
// a no-op and no sockets are inherited, so the daemon runs the same by hand.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "sidecar/net/libevent.hpp"

namespace sidecar::service_manager {

// "READY=1", "RELOADING=1", "STOPPING=1", "WATCHDOG=1", "STATUS=…". A reload notification
// carries MONOTONIC_USEC, which systemd's Type=notify-reload requires.
void notify(std::string_view state);
void notify_reloading();

// How often to ping the watchdog (half of WatchdogSec), when the manager expects pings.
std::optional<std::chrono::milliseconds> watchdog_interval();

// Listening sockets passed by socket activation, by FileDescriptorName (e.g. "publish",
// "sse", "admin"), made non-blocking. Taken once: the environment is cleared so children and
// a second call do not see them. Sockets with unknown names are reported and closed.
std::map<std::string, UniqueFd> take_sockets();

}  // namespace sidecar::service_manager
