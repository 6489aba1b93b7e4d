#include "sidecar/app/service_manager.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace sidecar::service_manager {

void notify(std::string_view state) {
  std::string text(state);
  sd_notify(0, text.c_str());
}

void notify_reloading() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  auto usec = static_cast<unsigned long long>(now.tv_sec) * 1000000ULL +
              static_cast<unsigned long long>(now.tv_nsec / 1000);
  notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

std::optional<std::chrono::milliseconds> watchdog_interval() {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::milliseconds(std::max<std::uint64_t>(usec / 2000, 1));
}

std::map<std::string, UniqueFd> take_sockets() {
  std::map<std::string, UniqueFd> out;
  char** names = nullptr;
  int n = sd_listen_fds_with_names(1, &names);  // 1: unset the LISTEN_* variables
  if (n <= 0) return out;
  for (int i = 0; i < n; ++i) {
    int fd = SD_LISTEN_FDS_START + i;
    std::string name = names && names[i] ? names[i] : "unknown";
    bool listening = sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) > 0;
    if ((name != "publish" && name != "sse" && name != "admin") || !listening || out.count(name)) {
      spdlog::warn(
          "ignoring inherited socket {} named '{}': expected one listening stream "
          "socket each named publish, sse or admin",
          fd, name);
      ::close(fd);
      continue;
    }
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    out.emplace(name, UniqueFd(fd));
  }
  for (int i = 0; names && i < n; ++i) std::free(names[i]);
  std::free(names);
  return out;
}

}  // namespace sidecar::service_manager
