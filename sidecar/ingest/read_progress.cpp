#include "sidecar/ingest/read_progress.hpp"

namespace sidecar {

void ReadProgress::start(Clock::time_point now, std::size_t unread, std::uint64_t written) {
  last_read_ = now;
  unread_ = unread;
  written_ = written;
}

ReadProgress::Clock::duration ReadProgress::idle(Clock::time_point now, std::size_t unread,
                                                 std::uint64_t written) {
  // Fewer unread bytes: it read some. More written: its socket had room, which it only gets
  // by reading (what was written can also have raised `unread`, hence both).
  if (unread < unread_ || written != written_) last_read_ = now;
  unread_ = unread;
  written_ = written;
  return now - last_read_;
}

}  // namespace sidecar
