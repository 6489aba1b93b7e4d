// Counters shared by every thread, rendered by the admin listener in Prometheus text format.
// Hot paths add in batches (one add per worker turn, not per delivery).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

namespace sidecar {

using Counter = std::atomic<std::uint64_t>;

// Why a stream connection ended.
enum class CloseReason : std::uint8_t {
  kClient,       // the client went away
  kSlow,         // unsent bytes passed subscriber_buffer_bytes
  kDrain,        // shutdown
  kRefused,      // answered with an HTTP error
  kAnswered,     // answered without a stream (CORS preflight)
  kTimeout,      // request headers not received in time
  kExpired,      // its credentials expired
  kRevoked,      // a reload withdrew its access
  kError,        // socket error while writing
  kMaxDuration,  // open for stream.max_duration; the client reconnects and resumes
  kCount
};
std::string_view to_string(CloseReason reason);

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
  Counter connections_open{0};
  Counter connections_total{0};
  std::array<Counter, static_cast<std::size_t>(CloseReason::kCount)> closed{};
  Counter events_published{0};
  Counter events_delivered{0};  // one per event per subscriber written to its buffer
  Counter events_dropped{0};    // deliveries abandoned by disconnecting a slow subscriber
  Counter bytes_sent{0};
  std::array<Counter, static_cast<std::size_t>(IngestError::kCount)> ingest_errors{};
  Counter publisher_connections{0};
  Counter limited_ip_connections{0};       // refused: limits.max_connections_per_ip
  Counter limited_ip_rate{0};              // refused: limits.connect_rate_per_ip
  Counter limited_subject_connections{0};  // refused: limits.max_connections_per_subject
  Counter presence_joins{0};
  Counter presence_leaves{0};
  Counter presence_webhook_batches{0};   // batches the webhook accepted (2xx)
  Counter presence_webhook_failures{0};  // attempts that failed (each retry counts)
  Counter presence_webhook_dropped{0};   // changes given up on (retries spent, queue full)
  Counter presence_webhook_queued{0};    // changes waiting to be sent (a gauge)

  void count_close(CloseReason r) {
    closed[static_cast<std::size_t>(r)].fetch_add(1, std::memory_order_relaxed);
  }
  void count_ingest_error(IngestError e) {
    ingest_errors[static_cast<std::size_t>(e)].fetch_add(1, std::memory_order_relaxed);
  }
};

}  // namespace sidecar
