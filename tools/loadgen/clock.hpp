// The two clocks the load generator reads, and the conversion libevent timers need.
#pragma once

#include <sys/time.h>
#include <time.h>

#include <cstdint>

namespace loadgen {

// Wall-clock nanoseconds. Publisher and subscribers run on one host and compare these across
// processes, which only the realtime clock allows.
inline int64_t realtime_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// Nanoseconds that never step: for durations and rates measured inside one process.
inline int64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// Seconds as a libevent timer interval.
inline timeval to_timeval(double seconds) {
  auto whole = static_cast<time_t>(seconds);
  return timeval{whole, static_cast<suseconds_t>((seconds - static_cast<double>(whole)) * 1e6)};
}

}  // namespace loadgen
