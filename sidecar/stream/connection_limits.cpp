#include "sidecar/stream/connection_limits.hpp"

namespace sidecar {

ConnectionLimits::ConnectionLimits(const LimitsConfig& limits)
    : limits_(limits),
      connect_rate_(limits.connect_rate_per_ip, static_cast<double>(limits.connect_burst_per_ip)) {}

void ConnectionLimits::configure(const LimitsConfig& limits) {
  std::lock_guard lock(mutex_);
  limits_ = limits;
  connect_rate_.set_limits(limits.connect_rate_per_ip,
                           static_cast<double>(limits.connect_burst_per_ip));
}

ConnectionLimits::Verdict ConnectionLimits::admit_ip(const std::string& ip, int& retry_after) {
  std::lock_guard lock(mutex_);
  std::size_t& open = per_ip_[ip];
  if (limits_.max_connections_per_ip && open >= limits_.max_connections_per_ip) {
    if (open == 0) per_ip_.erase(ip);
    retry_after = 5;
    return Verdict::kTooManyForIp;
  }
  if (!connect_rate_.take(ip, RateLimiter::Clock::now(), 1, retry_after)) {
    if (open == 0) per_ip_.erase(ip);
    return Verdict::kTooFastForIp;
  }
  ++open;
  return Verdict::kOk;
}

void ConnectionLimits::release_ip(const std::string& ip) {
  std::lock_guard lock(mutex_);
  release(per_ip_, ip);
}

ConnectionLimits::Verdict ConnectionLimits::admit_subject(const std::string& subject) {
  std::lock_guard lock(mutex_);
  std::size_t& open = per_subject_[subject];
  if (limits_.max_connections_per_subject && open >= limits_.max_connections_per_subject) {
    if (open == 0) per_subject_.erase(subject);
    return Verdict::kTooManyForSubject;
  }
  ++open;
  return Verdict::kOk;
}

void ConnectionLimits::release_subject(const std::string& subject) {
  std::lock_guard lock(mutex_);
  release(per_subject_, subject);
}

void ConnectionLimits::release(std::unordered_map<std::string, std::size_t>& counts,
                               const std::string& key) {
  auto it = counts.find(key);
  if (it == counts.end()) return;
  if (--it->second == 0) counts.erase(it);
}

}  // namespace sidecar
