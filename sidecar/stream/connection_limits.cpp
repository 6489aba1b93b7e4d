#include "sidecar/stream/connection_limits.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>

namespace sidecar {

ConnectionLimits::ConnectionLimits(const LimitsConfig& limits)
    : limits_(limits),
      connect_rate_(limits.connect_rate_per_ip, static_cast<double>(limits.connect_burst_per_ip)) {
  cap_connections(limits.max_connections);
}

void ConnectionLimits::cap_connections(std::size_t configured) {
  rlimit nofile{};
  std::size_t cap = configured;
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY) {
    auto limit = static_cast<std::size_t>(nofile.rlim_cur);
    // Listeners, loops, wakeups, publishers, admin requests, Redis and HTTP calls: a few dozen
    // in practice; a thirty-second of the limit (at least 64) leaves room for bursts of them.
    std::size_t reserve = std::max<std::size_t>(64, limit / 32);
    std::size_t usable = limit > reserve ? limit - reserve : 1;
    if (configured > usable) {
      spdlog::warn(
          "limits.max_connections ({}) is more than the descriptor limit ({}) leaves for "
          "streams: at most {} are accepted, keeping {} descriptors for the admin listener, "
          "publishers and outbound calls (raise LimitNOFILE= or lower limits.max_connections)",
          configured, limit, usable, reserve);
      cap = usable;
    }
  }
  max_connections_.store(cap, std::memory_order_relaxed);
}

void ConnectionLimits::configure(const LimitsConfig& limits) {
  cap_connections(limits.max_connections);
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

ConnectionLimits::Verdict ConnectionLimits::admit_ip_stream(const std::string& ip) {
  std::lock_guard lock(mutex_);
  std::size_t& open = per_ip_[ip];
  if (limits_.max_connections_per_ip && open >= limits_.max_connections_per_ip) {
    if (open == 0) per_ip_.erase(ip);
    return Verdict::kTooManyForIp;
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
