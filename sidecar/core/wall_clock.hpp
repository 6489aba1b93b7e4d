// The wall clock, as the integers the wire and files use: ids' epochs, JWT and signed-URL
// expiry, request timestamps, presence times, the state file's age bookkeeping.
#pragma once

#include <chrono>
#include <cstdint>

namespace sidecar {

inline std::int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline std::uint64_t unix_ms() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

}  // namespace sidecar
