#include "sidecar/admin/metrics_text.hpp"

#include <algorithm>

#include "sidecar/core/prometheus_text.hpp"

namespace sidecar {
namespace {

void family(std::string& out, const char* name, const char* type, const char* help) {
  append_metric_family(out, name, type, help);
}

void sample(std::string& out, const char* name, std::uint64_t value, std::string_view labels = {}) {
  append_metric_sample(out, name, value, labels);
}

std::uint64_t get(const Counter& c) {
  return c.load(std::memory_order_relaxed);
}

}  // namespace

std::string render_metrics(const Metrics& m, const HistoryStats& history) {
  std::string out;
  family(out, "sse_connections_open", "gauge", "Open connections on the stream listener.");
  sample(out, "sse_connections_open", get(m.connections_open));
  // Beside sse_connections_open rather than a label on it, so that rules dividing it by
  // sse_max_connections keep matching.
  family(out, "sse_connections_open_by_transport", "gauge",
         "Open stream connections by listener: plain (listen.sse) or tls (listen.sse_tls).");
  {
    std::uint64_t open = get(m.connections_open);
    std::uint64_t tls = std::min(open, m.sum(&StreamStats::tls_open));
    sample(out, "sse_connections_open_by_transport", open - tls, "transport=\"plain\"");
    sample(out, "sse_connections_open_by_transport", tls, "transport=\"tls\"");
  }
  family(out, "sse_tls_handshakes_total", "counter",
         "TLS handshakes on listen.sse_tls by result: ok, or why they failed.");
  for (std::size_t i = 0; i < static_cast<std::size_t>(TlsHandshakeResult::kCount); ++i) {
    auto result = static_cast<TlsHandshakeResult>(i);
    std::string label = "result=\"" + std::string(to_string(result)) + "\"";
    sample(out, "sse_tls_handshakes_total", m.handshakes(result), label);
  }
  // Only with listen.sse_tls: a zero would read as a certificate that expired in 1970.
  if (std::uint64_t expiry = get(m.tls_certificate_expiry)) {
    family(out, "sse_tls_certificate_expiry_timestamp_seconds", "gauge",
           "When the certificate listen.sse_tls serves expires (its notAfter), in unix seconds.");
    sample(out, "sse_tls_certificate_expiry_timestamp_seconds", expiry);
  }
  family(out, "sse_streams_open_by_protocol", "gauge",
         "Open streams by protocol: h1 or h2c (listen.sse), h1+tls or h2 (listen.sse_tls); an "
         "HTTP/2 connection carries several.");
  for (std::size_t i = 0; i < static_cast<std::size_t>(StreamProtocol::kCount); ++i) {
    std::string label =
        "protocol=\"" + std::string(to_string(static_cast<StreamProtocol>(i))) + "\"";
    sample(out, "sse_streams_open_by_protocol", m.sum_at(&StreamStats::streams_open, i), label);
  }
  family(out, "sse_h2_connections_open", "gauge", "Open HTTP/2 connections (ALPN h2).");
  sample(out, "sse_h2_connections_open", m.sum(&StreamStats::h2_open));
  // Labelled by the error code sent: a fixed set (the RFC's codes, then "other").
  auto by_h2_code = [&](const char* name, const char* help,
                        std::array<LocalCounter, kH2ErrorNames> StreamStats::*counters) {
    family(out, name, "counter", help);
    for (std::size_t i = 0; i < kH2ErrorNames; ++i) {
      std::string label =
          "reason=\"" + std::string(h2_error_name(static_cast<std::uint32_t>(i))) + "\"";
      sample(out, name, m.sum_at(counters, i), label);
    }
  };
  by_h2_code("sse_h2_stream_resets_total",
             "HTTP/2 streams reset by the sidecar (RST_STREAM sent), by error code: cancel is a "
             "slow consumer, refused_stream one past limits.h2_max_streams.",
             &StreamStats::h2_resets);
  by_h2_code("sse_h2_goaways_total",
             "HTTP/2 GOAWAY frames sent, by error code: no_error on drain or idle, others when a "
             "client broke the protocol or flooded it.",
             &StreamStats::h2_goaways);
  family(out, "sse_connections_total", "counter", "Connections accepted on the stream listener.");
  sample(out, "sse_connections_total", m.sum(&StreamStats::connections_total));
  family(out, "sse_connections_closed_total", "counter",
         "Stream listener connections closed, by reason.");
  for (std::size_t i = 0; i < static_cast<std::size_t>(CloseReason::kCount); ++i) {
    auto reason = static_cast<CloseReason>(i);
    std::string label = "reason=\"" + std::string(to_string(reason)) + "\"";
    sample(out, "sse_connections_closed_total", m.closed(reason), label);
  }
  family(out, "sse_slow_consumer_disconnects_total", "counter",
         "Streams disconnected because their unsent bytes passed limits.subscriber_buffer_bytes.");
  sample(out, "sse_slow_consumer_disconnects_total", m.closed(CloseReason::kSlow));
  family(out, "sse_events_published_total", "counter", "Events accepted from publishers.");
  sample(out, "sse_events_published_total", get(m.events_published));
  family(out, "sse_events_delivered_total", "counter", "Event copies queued to subscribers.");
  sample(out, "sse_events_delivered_total", m.sum(&StreamStats::events_delivered));
  family(out, "sse_events_dropped_total", "counter",
         "Events queued to slow subscribers and not written before they were disconnected.");
  sample(out, "sse_events_dropped_total", m.sum(&StreamStats::events_dropped));
  family(out, "sse_bytes_sent_total", "counter", "Bytes written to stream connections.");
  sample(out, "sse_bytes_sent_total", m.sum(&StreamStats::bytes_sent));
  family(out, "sse_stream_buffered_bytes", "gauge",
         "Unsent bytes held for stream connections, with their queue overhead (each stream is "
         "bounded by limits.subscriber_buffer_bytes).");
  sample(out, "sse_stream_buffered_bytes", m.sum(&StreamStats::buffered_bytes));
  family(out, "sse_ingest_errors_total", "counter", "Refused publish messages, by kind.");
  for (std::size_t i = 0; i < m.ingest_errors.size(); ++i) {
    std::string label = "kind=\"" + std::string(to_string(static_cast<IngestError>(i))) + "\"";
    sample(out, "sse_ingest_errors_total", get(m.ingest_errors[i]), label);
  }
  family(out, "sse_publisher_connections", "gauge", "Open connections on the publish socket.");
  sample(out, "sse_publisher_connections", get(m.publisher_connections));
  family(out, "sse_publisher_paused_total", "counter",
         "Times reading from a socket publisher paused, by reason: its unread replies passed "
         "publish.reply_buffer_bytes, or its events awaiting the engine passed "
         "publish.engine_buffer_bytes.");
  sample(out, "sse_publisher_paused_total", get(m.publisher_paused_replies), "reason=\"replies\"");
  sample(out, "sse_publisher_paused_total", get(m.publisher_paused_engine), "reason=\"engine\"");
  family(out, "sse_publisher_closed_total", "counter",
         "Publish socket connections closed, by reason.");
  for (std::size_t i = 0; i < m.publisher_closed.size(); ++i) {
    std::string label = "reason=\"" + std::string(to_string(static_cast<PublisherClose>(i))) + "\"";
    sample(out, "sse_publisher_closed_total", get(m.publisher_closed[i]), label);
  }
  family(out, "sse_connections_limited_total", "counter",
         "Stream connections refused with 429, by the limit that refused them.");
  sample(out, "sse_connections_limited_total", m.sum(&StreamStats::limited_ip_connections),
         "limit=\"per_ip\"");
  sample(out, "sse_connections_limited_total", m.sum(&StreamStats::limited_ip_rate),
         "limit=\"ip_rate\"");
  sample(out, "sse_connections_limited_total", m.sum(&StreamStats::limited_subject_connections),
         "limit=\"per_subject\"");
  family(out, "sse_history_topics", "gauge", "Topics with retained history.");
  sample(out, "sse_history_topics", history.topics);
  family(out, "sse_history_events", "gauge", "Events retained for resume (once per topic).");
  sample(out, "sse_history_events", history.events);
  family(out, "sse_history_bytes", "gauge",
         "Bytes of events retained for resume (once per topic).");
  sample(out, "sse_history_bytes", history.bytes);
  family(out, "sse_history_memory_bytes", "gauge",
         "Memory retained history costs, as history.max_total_bytes counts it: events with their "
         "frames and allocator overhead (once per topic), and each topic's own.");
  sample(out, "sse_history_memory_bytes", history.memory);
  family(out, "sse_history_evicted_total", "counter",
         "Events dropped from history (once per topic), by the bound that dropped them.");
  for (std::size_t i = 0; i < history.evicted.size(); ++i) {
    std::string label = "reason=\"" + std::string(to_string(static_cast<Eviction>(i))) + "\"";
    sample(out, "sse_history_evicted_total", history.evicted[i], label);
  }
  family(out, "sse_history_topics_forgotten_total", "counter",
         "Topics history stopped tracking, by the bound that made it (max_age: empty that long).");
  for (auto reason : {Eviction::kMaxAge, Eviction::kMaxTotalBytes, Eviction::kMaxTopics}) {
    std::string label = "reason=\"" + std::string(to_string(reason)) + "\"";
    sample(out, "sse_history_topics_forgotten_total",
           history.forgotten[static_cast<std::size_t>(reason)], label);
  }
  family(out, "sse_presence_changes_total", "counter",
         "Presence changes: a subject's first stream on a tracked topic (join), its last (leave).");
  sample(out, "sse_presence_changes_total", get(m.presence_joins), "action=\"join\"");
  sample(out, "sse_presence_changes_total", get(m.presence_leaves), "action=\"leave\"");
  family(out, "sse_presence_webhook_batches_total", "counter",
         "Presence webhook requests, by result (failed attempts are retried with backoff).");
  sample(out, "sse_presence_webhook_batches_total", get(m.presence_webhook_batches),
         "result=\"ok\"");
  sample(out, "sse_presence_webhook_batches_total", get(m.presence_webhook_failures),
         "result=\"failed\"");
  family(out, "sse_presence_webhook_dropped_total", "counter",
         "Presence changes the webhook never received (retries spent or queue full).");
  sample(out, "sse_presence_webhook_dropped_total", get(m.presence_webhook_dropped));
  family(out, "sse_presence_webhook_queue", "gauge", "Presence changes waiting for the webhook.");
  sample(out, "sse_presence_webhook_queue", get(m.presence_webhook_queued));
  family(out, "sse_worker_queue_overflows_total", "counter",
         "Times a stream worker fell limits.worker_queue_bytes behind and ended its streams.");
  sample(out, "sse_worker_queue_overflows_total", get(m.worker_queue_overflows));
  return out;
}

}  // namespace sidecar
