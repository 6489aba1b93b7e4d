// What the publish command tells on standard error while a long input runs: a line a second,
// once it has run for a second (lines sent, accepted, refused, rate), and a summary at the end
// when any progress line was shown. A short run shows nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace sidecar {

struct PublishCounts {
  std::uint64_t sent = 0;  // lines handed to the connection, in order
  std::uint64_t accepted = 0;
  std::uint64_t refused = 0;

  std::uint64_t answered() const { return accepted + refused; }
};

class PublishProgress {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kInterval{1};

  explicit PublishProgress(Clock::time_point start)
      : start_(start), next_(start + kInterval), last_at_(start) {}

  // Time left before the next line is due, for a poll's timeout; zero when it is due.
  std::chrono::milliseconds until_due(Clock::time_point now) const;
  // The line to show now, when one is due (without the program's name); the rate is the lines
  // answered per second since the previous line.
  std::optional<std::string> line(Clock::time_point now, const PublishCounts& counts);
  bool shown() const { return shown_; }
  // The last line: the totals, the time taken and the mean rate, and lines left unanswered.
  std::string summary(Clock::time_point now, const PublishCounts& counts,
                      std::uint64_t unanswered) const;

 private:
  Clock::time_point start_;
  Clock::time_point next_;
  Clock::time_point last_at_;
  std::uint64_t last_answered_ = 0;
  bool shown_ = false;
};

}  // namespace sidecar
