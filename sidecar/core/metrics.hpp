// Counters rendered by the admin listener in Prometheus text format. The stream workers' counters
// live in one StreamStats per worker (written by that worker alone) and are summed on render;
// the rest are shared atomics touched by the main loop, or rarely.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <string_view>

#include "sidecar/core/close_reason.hpp"
#include "sidecar/core/publisher_close.hpp"
#include "sidecar/core/stream_stats.hpp"

namespace sidecar {

using Counter = std::atomic<std::uint64_t>;

// Kinds of refused publish input.
enum class IngestError : std::uint8_t {
  kMalformed,     // not JSON, or not the expected shape
  kInvalid,       // bad topic, event name, field value
  kTooLarge,      // event bigger than max_event_bytes
  kLineTooLong,   // NDJSON line longer than max_line_bytes
  kUnauthorized,  // missing or wrong publisher credentials
  kForbidden,     // topic not allowed for this publisher, or socket peer not allowed
  kRateLimited,   // over the publisher's rate
  kCount
};
std::string_view to_string(IngestError kind);

struct Metrics {
  // Open streams over every worker: admission against limits.max_connections reads it, so it
  // is one shared count (touched once when a connection opens and once when it closes).
  Counter connections_open{0};
  Counter events_published{0};
  std::array<Counter, static_cast<std::size_t>(IngestError::kCount)> ingest_errors{};
  Counter publisher_connections{0};
  // Times reading from a socket publisher paused: its unread replies passed
  // publish.reply_buffer_bytes, or its events awaiting the engine publish.engine_buffer_bytes.
  Counter publisher_paused_replies{0};
  Counter publisher_paused_engine{0};
  std::array<Counter, static_cast<std::size_t>(PublisherClose::kCount)> publisher_closed{};
  Counter presence_joins{0};
  Counter presence_leaves{0};
  Counter presence_webhook_batches{0};   // batches the webhook accepted (2xx)
  Counter presence_webhook_failures{0};  // attempts that failed (each retry counts)
  Counter presence_webhook_dropped{0};   // changes given up on (retries spent, queue full)
  Counter presence_webhook_queued{0};    // changes waiting to be sent (a gauge)
  Counter worker_queue_overflows{0};     // times a worker fell limits.worker_queue_bytes behind
  // The notAfter (unix seconds) of the certificate listen.sse_tls serves; 0 without TLS.
  Counter tls_certificate_expiry{0};

  // One per stream worker; added on the main thread before the workers start, never removed
  // while they run (a deque keeps references stable).
  std::deque<StreamStats> streams;

  // A worker counter summed over the workers.
  std::uint64_t sum(LocalCounter StreamStats::*counter) const {
    std::uint64_t total = 0;
    for (const auto& s : streams) total += (s.*counter).get();
    return total;
  }
  std::uint64_t closed(CloseReason r) const {
    std::uint64_t total = 0;
    for (const auto& s : streams) total += s.closed[static_cast<std::size_t>(r)].get();
    return total;
  }

  std::uint64_t handshakes(TlsHandshakeResult r) const {
    std::uint64_t total = 0;
    for (const auto& s : streams) total += s.tls_handshakes[static_cast<std::size_t>(r)].get();
    return total;
  }

  // One slot of a per-worker array of counters, summed over the workers.
  template <std::size_t N>
  std::uint64_t sum_at(std::array<LocalCounter, N> StreamStats::*counters, std::size_t i) const {
    std::uint64_t total = 0;
    for (const auto& s : streams) total += (s.*counters)[i].get();
    return total;
  }

  void count_ingest_error(IngestError e) {
    ingest_errors[static_cast<std::size_t>(e)].fetch_add(1, std::memory_order_relaxed);
  }
  void count_publisher_close(PublisherClose r) {
    publisher_closed[static_cast<std::size_t>(r)].fetch_add(1, std::memory_order_relaxed);
  }
};

}  // namespace sidecar
