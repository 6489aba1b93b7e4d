// Counters of one stream worker, written only by that worker's thread and summed when /metrics
// is rendered (as memcached's threadlocal_stats_aggregate does). A shared atomic touched by
// every worker per connection per turn makes the cores fight over one cache line; here a worker
// writes its own line with a plain load and store, and readers only load.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "sidecar/core/close_reason.hpp"
#include "sidecar/core/stream_protocol.hpp"
#include "sidecar/core/tls_handshake_result.hpp"

namespace sidecar {

// A counter with one writer: no locked read-modify-write, yet safe to read from any thread.
class LocalCounter {
 public:
  void add(std::uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void sub(std::uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
  }
  std::uint64_t get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

struct alignas(64) StreamStats {
  LocalCounter connections_total;  // accepted
  std::array<LocalCounter, static_cast<std::size_t>(CloseReason::kCount)> closed{};
  LocalCounter events_delivered;  // one per event per subscriber queued to its stream
  LocalCounter events_dropped;    // events queued to a slow subscriber it was dropped without
  LocalCounter bytes_sent;
  LocalCounter buffered_bytes;               // a gauge: unsent bytes held for its streams
  LocalCounter limited_ip_connections;       // refused: limits.max_connections_per_ip
  LocalCounter limited_ip_rate;              // refused: limits.connect_rate_per_ip
  LocalCounter limited_subject_connections;  // refused: limits.max_connections_per_subject

  LocalCounter tls_open;  // a gauge: its open connections from the TLS listener
  std::array<LocalCounter, static_cast<std::size_t>(TlsHandshakeResult::kCount)> tls_handshakes{};

  // HTTP/2 (listen.sse_tls, ALPN h2): its connections, a gauge, and the RST_STREAM and GOAWAY
  // frames sent, by error code (h2_error_name()).
  LocalCounter h2_open;
  std::array<LocalCounter, kH2ErrorNames> h2_resets{};
  std::array<LocalCounter, kH2ErrorNames> h2_goaways{};
  // A gauge: its streams (admitted, until they end) by how they are served.
  std::array<LocalCounter, static_cast<std::size_t>(StreamProtocol::kCount)> streams_open{};

  void count_close(CloseReason r) { closed[static_cast<std::size_t>(r)].add(); }
  void count_handshake(TlsHandshakeResult r) { tls_handshakes[static_cast<std::size_t>(r)].add(); }
};

}  // namespace sidecar
