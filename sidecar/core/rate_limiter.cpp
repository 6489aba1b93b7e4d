#include "sidecar/core/rate_limiter.hpp"

#include <algorithm>
#include <cmath>

namespace sidecar {

bool RateLimiter::take(const std::string& key, Clock::time_point now, double cost,
                       int& retry_after) {
  if (rate_ <= 0) return true;
  prune(now);
  auto [it, fresh] = buckets_.try_emplace(key, Bucket{burst_, now});
  Bucket& b = it->second;
  if (!fresh) {
    double elapsed = std::chrono::duration<double>(now - b.updated).count();
    b.tokens = std::min(burst_, b.tokens + elapsed * rate_);
    b.updated = now;
  }
  if (b.tokens >= cost) {
    b.tokens -= cost;
    return true;
  }
  retry_after = std::max(1, static_cast<int>(std::ceil((cost - b.tokens) / rate_)));
  return false;
}

void RateLimiter::prune(Clock::time_point now) {
  // A bucket that has had time to refill completely is the same as no bucket.
  auto full_after = std::chrono::duration<double>(burst_ / rate_);
  if (now - last_prune_ < full_after && buckets_.size() < 4096) return;
  last_prune_ = now;
  std::erase_if(buckets_, [&](const auto& entry) {
    return std::chrono::duration<double>(now - entry.second.updated) >= full_after;
  });
}

}  // namespace sidecar
