// Limits that span all workers: open connections in all, open streams per client IP and per
// subject, and new connections per IP per second (a token bucket). Thread contract: every
// method takes the lock or reads an atomic; they run once per connection, never per event.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <unordered_map>

#include "sidecar/config/config.hpp"
#include "sidecar/core/rate_limiter.hpp"

namespace sidecar {

class ConnectionLimits {
 public:
  explicit ConnectionLimits(const LimitsConfig& limits);
  void configure(const LimitsConfig& limits);

  enum class Verdict { kOk, kTooManyForIp, kTooFastForIp, kTooManyForSubject };

  // limits.max_connections, or less when the descriptor limit cannot hold that many: a few
  // descriptors stay free for the admin listener, publishers and outbound calls, so that
  // monitoring and publishing go on while the streams take every other one.
  std::size_t max_connections() const { return max_connections_.load(std::memory_order_relaxed); }

  // At accept; on kOk the IP is counted until release_ip(). `retry_after` (seconds) is set
  // when refused.
  Verdict admit_ip(const std::string& ip, int& retry_after);
  void release_ip(const std::string& ip);
  // A further stream on an HTTP/2 connection already admitted: counted per IP like a
  // connection (kOk or kTooManyForIp), without taking from the connect rate.
  Verdict admit_ip_stream(const std::string& ip);
  // When a stream is admitted; on kOk counted until release_subject().
  Verdict admit_subject(const std::string& subject);
  void release_subject(const std::string& subject);

 private:
  static void release(std::unordered_map<std::string, std::size_t>& counts, const std::string& key);

  void cap_connections(std::size_t configured);

  std::mutex mutex_;
  std::atomic<std::size_t> max_connections_{0};
  LimitsConfig limits_;
  RateLimiter connect_rate_;
  std::unordered_map<std::string, std::size_t> per_ip_;
  std::unordered_map<std::string, std::size_t> per_subject_;
};

}  // namespace sidecar
