// Token buckets by key (a publisher, a client IP): `rate` tokens per second refill up to
// `burst`. Keys idle long enough to be full again are forgotten, so memory follows the active
// keys, not every key ever seen. Not thread-safe; the owner serialises access.
#pragma once

#include <chrono>
#include <string>
#include <unordered_map>

namespace sidecar {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  RateLimiter(double rate, double burst) : rate_(rate), burst_(burst) {}
  void set_limits(double rate, double burst) {
    rate_ = rate;
    burst_ = burst;
  }
  bool enabled() const { return rate_ > 0; }

  // Takes `cost` tokens for `key`. When refused, `retry_after` is the whole seconds (>= 1)
  // until they would be available.
  bool take(const std::string& key, Clock::time_point now, double cost, int& retry_after);

 private:
  struct Bucket {
    double tokens;
    Clock::time_point updated;
  };
  void prune(Clock::time_point now);

  double rate_;
  double burst_;
  std::unordered_map<std::string, Bucket> buckets_;
  Clock::time_point last_prune_{};
};

}  // namespace sidecar
