// Holds many SSE subscriber connections on one libevent loop and measures what reaches them.
//
// Sized for ~19k connections in one process: non-blocking sockets, one shared 64 KiB read buffer,
// a few hundred bytes of parser state per connection, no per-event allocation. Connections are
// opened at a bounded rate from consecutive loopback source addresses (one address has only ~28k
// ephemeral ports). Every failed attempt and every stream that ends early is counted with its
// reason; nothing is retried, so the numbers show exactly what the server did.
//
// Three transports, one measurement: plain HTTP/1.1, HTTP/1.1 over TLS (https:// URLs), and
// HTTP/2 over TLS, where each subscriber is a stream and several may share one connection as a
// browser's tabs do. A subscriber (Stream) is what is counted and timed; a connection (Link)
// only carries bytes. Every stream's body goes through the same SSE parser, stamps, sequence
// checks and counters whatever its transport, so every figure means the same on each.
//
// Optionally (a soak test) streams are closed and reopened with Last-Event-ID at a steady rate,
// and sequenced events (see payload_sequence) are checked per stream and topic across those
// reconnects: lost, duplicated, or skipped after a sidecar.missed notice. Over HTTP/2 a stream is
// reopened beside the others on its connection, as a browser's EventSource would.
//
// Thread contract: single-threaded; run() owns the calling thread until the run ends.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sidecar/net/libevent.hpp"
#include "tools/loadgen/delivery_window.hpp"
#include "tools/loadgen/h2_client_session.hpp"
#include "tools/loadgen/histogram.hpp"
#include "tools/loadgen/http_url.hpp"
#include "tools/loadgen/index_template.hpp"
#include "tools/loadgen/latency_sampler.hpp"
#include "tools/loadgen/run_control.hpp"
#include "tools/loadgen/sequence_check.hpp"
#include "tools/loadgen/sse_parser.hpp"
#include "tools/loadgen/tls_client.hpp"

namespace loadgen {

struct SubscribeOptions {
  HttpUrl url;               // scheme, host and port; url.target is unused (see target)
  IndexTemplate target;      // request target per stream index ({i}, {i%K})
  sockaddr_in server{};      // resolved url.host
  uint32_t connections = 0;  // subscribers (streams)
  // https: the PEM file of the CAs to trust ("" = the system's), or no verification at all.
  std::string ca_file;
  bool insecure = false;
  // https: subscribers as HTTP/2 streams, this many on each connection (the last may have
  // fewer). Without http2 every subscriber has a connection of its own.
  bool http2 = false;
  uint32_t streams_per_connection = 1;
  // Source addresses source_base, source_base+1, ...; connection i uses number i % sources.
  // 0 leaves the choice to the kernel (one address: at most ~28k connections).
  uint32_t sources = 8;
  std::string source_base = "127.0.0.2";
  double connect_rate = 0;  // new connections per second; 0 = as fast as max_pending allows
  // Connections in flight (connect() to the last of their response heads). Bounds SYN bursts
  // that would overflow the server's listen backlog and turn into 1 s SYN retransmits.
  uint32_t max_pending = 1000;
  double connect_timeout_s = 30;  // an attempt without a response head by then has failed
  uint64_t expect_events = 0;     // per connection; 0 = run until timeout or signal
  double timeout_s = 0;           // counted from READY; 0 = none
  bool idle = false;              // hold connections until a signal or the timeout
  bool progress = true;           // one status line per second on stderr
  std::string ready_file;         // created at READY when not empty
  bool keep_samples = false;      // fill SubscribeStats::samples (for --latency-csv)
  // Once every stream has its expect_events, hold the streams open this long before ending (the
  // timeout no longer applies then), so the server can be measured with them still connected.
  double linger_s = 0;
  bool check_sequence = false;  // check sequenced events (SequenceCheck)
  uint64_t sequence_first = 0;  // the number every topic starts at; 0 = the first one seen
  // With check_sequence: a stream is complete once every topic it saw reached this number
  // (like expect_events); numbers it never got up to it count as the shortfall. 0 = none.
  uint64_t sequence_end = 0;
  // Streaming connections closed and reopened per second, round-robin over the streams, each
  // resuming with a Last-Event-ID header naming the last id it received. 0 = none.
  double reconnect_rate = 0;
};

struct SubscribeStats {
  uint64_t connections = 0;         // subscribers (streams)
  uint64_t tcp_connections = 0;     // connect() calls, reopened HTTP/1.1 streams' included
  uint64_t connected = 0;           // got "200" response heads
  uint64_t failed = 0;              // connect error, non-200, closed or timed out before the head
  uint64_t disconnected_early = 0;  // streams that ended before expect_events (or before the end)
  uint64_t complete = 0;            // streams that received expect_events
  std::map<std::string, uint64_t> failure_reasons;  // reopened streams' ones start "reconnect: "
  std::map<std::string, uint64_t> disconnect_reasons;
  uint64_t reconnects = 0;           // streams closed to be reopened (reconnect_rate)
  uint64_t reconnected = 0;          // of those, reopened with a 200 head
  uint64_t reconnect_failed = 0;     // of those, not reopened (also in failure_reasons)
  uint64_t missed_notices = 0;       // sidecar.missed events
  SequenceStats sequence;            // check_sequence
  uint64_t sequence_shortfall = 0;   // sequence_end: numbers never received, set at the end
  uint64_t unsequenced_streams = 0;  // check_sequence: streams without a sequenced event
  // Longest time between two consecutive events on one stream, a reconnect in between included.
  int64_t max_gap_ns = 0;
  uint64_t events_received = 0;
  uint64_t events_without_timestamp = 0;
  uint64_t stale_events = 0;        // stamped before the run started: not counted anywhere else
  uint64_t negative_latencies = 0;  // clamped to 0: the clocks disagreed
  uint64_t bytes_received = 0;
  DeliveryWindow deliveries;  // receive times and send stamps of the counted events
  int64_t first_attempt_mono = 0;
  int64_t last_head_mono = 0;
  int64_t start_mono = 0;
  int64_t start_realtime = 0;
  int64_t ready_mono = 0;
  int64_t end_mono = 0;
  bool timed_out = false;
  bool interrupted = false;
  bool lingered = false;  // every stream got its events, then they were held open (linger_s)
  Histogram latency;
  LatencySampler samples;
};

class SubscriberFleet final : private RunControl::Owner, private H2ClientSession::Handler {
 public:
  explicit SubscriberFleet(SubscribeOptions options);
  ~SubscriberFleet();
  SubscriberFleet(const SubscriberFleet&) = delete;
  SubscriberFleet& operator=(const SubscriberFleet&) = delete;

  // Opens the connections and runs until every stream has its expected events, the timeout,
  // or SIGINT/SIGTERM. False with `error` only when the loop cannot be set up.
  bool run(std::string& error);
  const SubscribeStats& stats() const { return stats_; }

 private:
  struct Link;
  struct Stream;

  static void on_io(evutil_socket_t fd, short what, void* arg);
  static void on_launch_tick(evutil_socket_t, short, void* arg);
  static void on_reconnect_tick(evutil_socket_t, short, void* arg);
  void on_progress() override;
  void on_end(bool timed_out) override;
  void on_h2_head(void* stream, int status) override;
  void on_h2_data(void* stream, std::string_view data) override;
  void on_h2_close(void* stream, uint32_t error_code) override;

  // ---- connections
  void launch_due();
  // Opens `l` for every one of its streams (again, for a reconnect over HTTP/1.1).
  void open_link(Link& l);
  void finish_connect(Link& l);
  void connected(Link& l);
  void handshake(Link& l);
  void send_request(Link& l);
  void receive(Link& l);      // plain HTTP/1.1
  void receive_tls(Link& l);  // HTTP/1.1 over TLS
  void open_h2(Link& l);
  bool submit_h2(Stream& s, std::string& error);
  // One wakeup of an HTTP/2 connection: read what arrived, then write what the session queued.
  void h2_io(Link& l);
  // False once the connection is closed.
  bool h2_receive(Link& l);
  void h2_flush(Link& l);
  // Arms the write event, so frames queued outside I/O (a reset, a reopened stream) go out on
  // the next loop turn.
  void h2_want_write(Link& l);
  void watch(Link& l, short what);
  // Every stream of `l` fails (still opening) or ends (streaming), then `l` closes.
  void fail_link(Link& l, const std::string& reason, const std::string& streaming_reason);
  void fail_link(Link& l, const std::string& reason) { fail_link(l, reason, reason); }
  void close_link(Link& l);
  // One stream of `l` has its response head, or has failed without one.
  void settle(Link& l);

  // ---- streams
  // Feeds HTTP/1.1 bytes received at realtime `now`; false once the stream is closed.
  bool consume(Stream& s, std::string_view in, int64_t now);
  // The HTTP/1.1 connection of `s` reached EOF, or broke with `reason`.
  void h1_closed(Stream& s);
  void h1_broken(Stream& s, const std::string& reason);
  void stream_head(Stream& s);
  void on_event(Stream& s, const SseEvent& e, int64_t now);
  bool stream_complete(const Stream& s) const;
  void reconnects_due();
  void reconnect(Stream& s);
  void finish_sequences();
  // Marks `s` closed, resets its HTTP/2 stream, and closes its connection once no stream uses
  // it (not from inside the session's callbacks: after them).
  void close_stream(Stream& s);
  void fail(Stream& s, const std::string& reason);
  void end_stream(Stream& s, const std::string& reason);
  void attempt_finished();
  void ready();
  void maybe_finish();
  void stop();
  void expire_slow_attempts(int64_t now_mono);
  void print_progress();

  SubscribeOptions options_;
  SubscribeStats stats_;
  std::string authority_;  // Host header, or :authority
  std::string request_;    // scratch: the request (or HTTP/2 path) being written
  std::unique_ptr<char[]> read_buffer_;
  std::vector<sockaddr_in> sources_;
  std::unique_ptr<TlsClientContext> tls_;  // https only
  // Declared before every event (the connections' too) so it is destroyed after them: freeing an
  // event touches its base.
  sidecar::EventBasePtr base_;
  uint32_t streams_per_link_ = 1;
  uint32_t link_count_ = 0;
  std::unique_ptr<Stream[]> streams_;
  std::unique_ptr<Link[]> links_;
  sidecar::EventPtr launch_ev_;
  sidecar::EventPtr reconnect_ev_;
  RunControl control_;
  Histogram interval_latency_;  // since the last progress line
  uint64_t launched_ = 0;       // links opened by launch_due()
  uint64_t pending_links_ = 0;  // of those, links whose streams have not all settled
  uint64_t attempts_finished_ = 0;
  uint64_t streaming_ = 0;
  uint64_t reopening_ = 0;  // reconnects between close and response head
  uint64_t reconnects_started_ = 0;
  uint64_t next_reconnect_ = 0;  // index of the next stream to reconnect
  uint64_t interval_events_ = 0;
  int64_t launch_start_mono_ = 0;
  int64_t last_progress_mono_ = 0;
  int64_t h2_now_ = 0;  // realtime of the read being handed to an HTTP/2 session
  bool in_h2_callbacks_ = false;
  bool ready_ = false;
  bool stopping_ = false;
};

}  // namespace loadgen
