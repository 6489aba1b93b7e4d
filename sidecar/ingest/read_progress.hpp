// Whether a publisher is reading its replies, judged from samples taken while the sidecar waits
// on it: the reply bytes its socket still holds unread (SIOCOUTQ) and the reply bytes written to
// it so far. Either moving means it read something since the previous sample. Progress is
// judged by what it read, not by how full its socket is, so a publisher that reads slowly is
// never taken for one that stopped reading.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace sidecar {

class ReadProgress {
 public:
  using Clock = std::chrono::steady_clock;

  // Starts watching: `now` counts as the last time it read.
  void start(Clock::time_point now, std::size_t unread, std::uint64_t written);
  // Takes a sample; returns how long the publisher has gone without reading anything.
  Clock::duration idle(Clock::time_point now, std::size_t unread, std::uint64_t written);

 private:
  Clock::time_point last_read_{};
  std::size_t unread_ = 0;
  std::uint64_t written_ = 0;
};

}  // namespace sidecar
