#include "sidecar/app/publish_progress.hpp"

#include <cstdio>

namespace sidecar {
namespace {

std::uint64_t per_second(std::uint64_t lines, PublishProgress::Clock::duration took) {
  double seconds = std::chrono::duration<double>(took).count();
  return seconds > 0 ? static_cast<std::uint64_t>(static_cast<double>(lines) / seconds) : 0;
}

std::string totals(const PublishCounts& c) {
  return std::to_string(c.sent) + " lines sent, " + std::to_string(c.accepted) + " accepted, " +
         std::to_string(c.refused) + " refused";
}

}  // namespace

std::chrono::milliseconds PublishProgress::until_due(Clock::time_point now) const {
  if (now >= next_) return std::chrono::milliseconds(0);
  // Rounded up, so a poll that waits this long finds the line due.
  return std::chrono::ceil<std::chrono::milliseconds>(next_ - now);
}

std::optional<std::string> PublishProgress::line(Clock::time_point now,
                                                 const PublishCounts& counts) {
  if (now < next_) return std::nullopt;
  std::uint64_t rate = per_second(counts.answered() - last_answered_, now - last_at_);
  last_answered_ = counts.answered();
  last_at_ = now;
  // Due again one interval on, not one interval after a late wakeup piled up.
  while (next_ <= now) next_ += kInterval;
  shown_ = true;
  return totals(counts) + ", " + std::to_string(rate) + " lines/s";
}

std::string PublishProgress::summary(Clock::time_point now, const PublishCounts& counts,
                                     std::uint64_t unanswered) const {
  char took[32];
  std::snprintf(took, sizeof(took), "%.1f s", std::chrono::duration<double>(now - start_).count());
  std::string text = "done: " + totals(counts);
  if (unanswered > 0) text += ", " + std::to_string(unanswered) + " unanswered";
  return text + " in " + took + " (" + std::to_string(per_second(counts.answered(), now - start_)) +
         " lines/s)";
}

}  // namespace sidecar
