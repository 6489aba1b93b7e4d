// `sse-loadgen subscribe`: options in, SubscriberFleet run, JSON report out.
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "tools/loadgen/args.hpp"
#include "tools/loadgen/commands.hpp"
#include "tools/loadgen/json_writer.hpp"
#include "tools/loadgen/subscriber_fleet.hpp"

namespace loadgen {

namespace {

constexpr const char* kUsage = R"(usage: sse-loadgen subscribe --url URL --connections N [options]

Opens N Server-Sent Events streams on one event loop and measures the events reaching them.
Events whose data starts with "t=<CLOCK_REALTIME ns>;" (as `sse-loadgen publish` sends them)
are timed: latency = receive time - that stamp. Events stamped before the run started (history
a server replays on subscribe) are ignored and counted as stale_events_ignored.

  --url URL             http://host:port/target or https://host:port/target. In the target,
                        {i} becomes the stream index 0..N-1 and {i%K} the index modulo K;
                        without them every stream requests the same URL. Sends GET with
                        Accept: text/event-stream.
  --connections N       streams (subscribers) to open
  --cacert FILE         https: trust the CA certificates in this PEM file (default: the
                        system's); the certificate must also name the URL's host
  --insecure            https: accept any certificate, unverified
  --http2               https: each stream is an HTTP/2 stream. ALPN offers h2 and
                        http/1.1, as browsers do; a server choosing http/1.1 fails the
                        streams (no fallback: the run measures HTTP/2 or nothing)
  --streams-per-connection K
                        with --http2: K streams share each connection, as a browser's tabs
                        share one (default 1: a connection per stream). --connect-rate and
                        --max-pending then count connections
  --sources S           bind connections to S consecutive source addresses starting at
                        --source-base, round-robin (default 8; 0 = let the kernel choose).
                        One source address has only ~28k ephemeral ports.
  --source-base ADDR    first source address (default 127.0.0.2)
  --connect-rate R      new connections per second (default 0 = as fast as --max-pending allows)
  --max-pending P       connections in flight, connect to their last response head (default
                        1000)
  --connect-timeout S   an attempt without a response head after S seconds fails (default 30)
  --expect-events E     end once every stream has received E events (default 0: run until
                        --timeout or a signal)
  --timeout S           end S seconds after READY (default 120 with --expect-events or
                        --sequence-end, else 0 = never)
  --linger S            with --expect-events or --sequence-end: once every stream has its
                        events, keep the streams open S seconds more before ending (default
                        0), so the server's memory can be read with its subscribers still
                        connected
  --idle                connect, print READY, hold the streams until a signal or --timeout
  --check-sequence      check events numbered by `sse-loadgen publish --sequence`: on each
                        stream and topic every number must follow the last one; skipped ones
                        count as lost (or as covered when a sidecar.missed event came first),
                        repeated ones as duplicated
  --sequence-from N     with --check-sequence: every topic starts at number N, so events
                        before a stream's first one count as lost too (default 0: the first
                        number a stream sees on a topic is its start)
  --sequence-end N      with --check-sequence: the publisher's last number on every topic; a
                        stream is complete (as with --expect-events) once each of its topics
                        got there, and numbers never received count as the shortfall
  --reconnect-rate R    close and reopen R streams per second (round-robin, after READY),
                        each resuming with Last-Event-ID set to the last id it received
  --ready-file PATH     create PATH (containing "<connected> <failed>") at READY
  --report FILE         write the JSON report to FILE too
  --latency-csv FILE    write "receive_ns,latency_ns" rows for up to 200000 events, evenly
                        spaced over the run
  --quiet               no progress line on stderr
  --help                this text

Every transport counts and times the same way: each stream's body goes through the same SSE
parser, stamps and checks. bytes_received counts what was read after TLS (HTTP/2 frames included).

Once every attempt has connected or failed, prints "READY <connected> <failed>" on stdout: start
publishing then. At the end prints one JSON object; its *_ts fields are CLOCK_REALTIME ns:
first_event_ts and last_event_ts the receive times of the first and last counted event,
earliest_stamp_ts and latest_stamp_ts the smallest and largest send stamp among them. Failures
(connect errors, non-200 replies, streams closed early) are counted with their reasons, never
retried.
The report also counts reconnects, sidecar.missed notices, the longest gap between two events of
one stream (max_gap_ms, across a reconnect too) and, with --check-sequence, what the checks found.
Exit status: 0 when every stream connected and (with --expect-events or --sequence-end) got its
events, and the sequence checks found nothing; 1 when any failed, ended early, failed to reopen,
missed events or lost or repeated one; 2 for bad arguments.
)";

constexpr OptionSpec kOptions[] = {
    {"url", true},
    {"connections", true},
    {"cacert", true},
    {"insecure", false},
    {"http2", false},
    {"streams-per-connection", true},
    {"sources", true},
    {"source-base", true},
    {"connect-rate", true},
    {"max-pending", true},
    {"connect-timeout", true},
    {"expect-events", true},
    {"timeout", true},
    {"linger", true},
    {"idle", false},
    {"check-sequence", false},
    {"sequence-from", true},
    {"sequence-end", true},
    {"reconnect-rate", true},
    {"ready-file", true},
    {"report", true},
    {"latency-csv", true},
    {"quiet", false},
    {"help", false},
};

double cpu_ms(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) * 1e3 + static_cast<double>(tv.tv_usec) / 1e3;
}

std::string reasons_json(const std::map<std::string, uint64_t>& reasons) {
  JsonObject o;
  for (const auto& [reason, count] : reasons) o.add_uint(reason, count);
  return o.str();
}

std::string sequence_json(const SubscribeOptions& options, const SubscribeStats& s) {
  if (!options.check_sequence) return "null";
  JsonObject o;
  o.add_uint("checked", s.sequence.checked)
      .add_uint("lost", s.sequence.lost)
      .add_uint("duplicated", s.sequence.duplicated)
      .add_uint("covered_by_notice", s.sequence.covered)
      .add_uint("shortfall", s.sequence_shortfall)
      .add_uint("unsequenced_streams", s.unsequenced_streams);
  return o.str();
}

std::string report(const SubscribeOptions& options, const SubscribeStats& s,
                   const std::string& url) {
  auto ms = [](int64_t ns) { return static_cast<double>(ns) / 1e6; };
  const Histogram& h = s.latency;
  JsonObject latency;
  latency.add_uint("p50", h.percentile(0.50))
      .add_uint("p90", h.percentile(0.90))
      .add_uint("p99", h.percentile(0.99))
      .add_uint("p999", h.percentile(0.999))
      .add_uint("max", h.max())
      .add_uint("min", h.min())
      .add_uint("count", h.count());
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);

  JsonObject o;
  const char* protocol = options.http2 ? "h2" : options.url.https ? "h1+tls" : "h1";
  o.add_string("url", url)
      .add_string("protocol", protocol)
      .add_uint("connections", s.connections)
      .add_uint("streams_per_connection", options.http2 ? options.streams_per_connection : 1)
      .add_uint("tcp_connections", s.tcp_connections)
      .add_uint("connected", s.connected)
      .add_uint("failed", s.failed)
      .add_raw("failure_reasons", reasons_json(s.failure_reasons))
      .add_double("time_to_all_connected_ms",
                  s.connected ? ms(s.last_head_mono - s.first_attempt_mono) : 0.0)
      .add_double("time_to_ready_ms", s.ready_mono ? ms(s.ready_mono - s.start_mono) : 0.0)
      .add_uint("events_received", s.events_received)
      .add_uint("expected", options.expect_events * s.connections)
      .add_uint("complete_streams", s.complete)
      .add_uint("disconnected_early", s.disconnected_early)
      .add_raw("disconnect_reasons", reasons_json(s.disconnect_reasons))
      .add_int("first_event_ts", s.deliveries.first_receive_ns())
      .add_int("last_event_ts", s.deliveries.last_receive_ns())
      .add_int("earliest_stamp_ts", s.deliveries.earliest_stamp_ns())
      .add_int("latest_stamp_ts", s.deliveries.latest_stamp_ns())
      .add_double("earliest_stamp_to_last_event_ms",
                  ms(s.deliveries.earliest_stamp_to_last_receive_ns()))
      .add_double("deliveries_per_sec", s.deliveries.per_second())
      .add_raw("latency_ns", latency.str())
      .add_uint("reconnects", s.reconnects)
      .add_uint("reconnected", s.reconnected)
      .add_uint("reconnect_failed", s.reconnect_failed)
      .add_uint("missed_notices", s.missed_notices)
      .add_double("max_gap_ms", ms(s.max_gap_ns))
      .add_raw("sequence", sequence_json(options, s))
      .add_uint("events_without_timestamp", s.events_without_timestamp)
      .add_uint("stale_events_ignored", s.stale_events)
      .add_uint("negative_latencies", s.negative_latencies)
      .add_uint("bytes_received", s.bytes_received)
      .add_bool("timed_out", s.timed_out)
      .add_bool("interrupted", s.interrupted)
      .add_bool("lingered", s.lingered)
      .add_double("run_ms", ms(s.end_mono - s.start_mono))
      .add_double("loadgen_cpu_user_ms", cpu_ms(ru.ru_utime))
      .add_double("loadgen_cpu_sys_ms", cpu_ms(ru.ru_stime))
      .add_int("loadgen_max_rss_kb", ru.ru_maxrss);
  return o.str();
}

bool write_file(const std::string& path, const std::string& text, std::string& error) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "w"), &std::fclose);
  if (!f || std::fputs(text.c_str(), f.get()) < 0 || std::fflush(f.get()) != 0) {
    error = path + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace

int subscribe_command(std::span<char* const> args) {
  SubscribeOptions options;
  std::string url_text, report_path, csv_path;
  try {
    ParsedArgs a = ParsedArgs::parse(args, kOptions);
    if (a.has("help")) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    url_text = a.required_text("url");
    std::string error;
    std::optional<HttpUrl> url = parse_http_url(url_text, error);
    if (!url) throw UsageError("--url: " + error);
    std::optional<IndexTemplate> target = IndexTemplate::parse(url->target, error);
    if (!target) throw UsageError("--url: " + error);
    if (url->host.find('{') != std::string::npos) {
      throw UsageError("--url: placeholders belong in the path or query, not the host");
    }
    if (!a.has("connections")) throw UsageError("--connections is required");
    options.url = *url;
    options.target = std::move(*target);
    options.connections = static_cast<uint32_t>(a.integer("connections", 0, 1, 1'000'000));
    options.ca_file = a.text("cacert");
    options.insecure = a.has("insecure");
    options.http2 = a.has("http2");
    if ((a.has("cacert") || options.insecure || options.http2) && !options.url.https) {
      throw UsageError("--cacert, --insecure and --http2 need an https:// URL");
    }
    if (a.has("cacert") && options.insecure) {
      throw UsageError("--cacert and --insecure exclude each other");
    }
    if (a.has("cacert") && ::access(options.ca_file.c_str(), R_OK) != 0) {
      throw UsageError("--cacert: cannot read '" + options.ca_file + "': " + std::strerror(errno));
    }
    if (a.has("streams-per-connection") && !options.http2) {
      throw UsageError(
          "--streams-per-connection needs --http2 (HTTP/1.1 has one stream per "
          "connection)");
    }
    options.streams_per_connection =
        static_cast<uint32_t>(a.integer("streams-per-connection", 1, 1, 1000));
    options.sources = static_cast<uint32_t>(a.integer("sources", 8, 0, 250));
    options.source_base = a.text("source-base", "127.0.0.2");
    sockaddr_in probe{};
    if (!ipv4_plus(options.source_base, 0, probe)) {
      throw UsageError("--source-base: '" + options.source_base + "' is not an IPv4 address");
    }
    options.connect_rate = a.number("connect-rate", 0, 0, 1e9);
    options.max_pending = static_cast<uint32_t>(a.integer("max-pending", 1000, 1, 1'000'000));
    options.connect_timeout_s = a.number("connect-timeout", 30, 0.001, 86400);
    options.expect_events = a.integer("expect-events", 0, 0, UINT64_MAX / 1'000'000);
    options.idle = a.has("idle");
    if (options.idle && options.expect_events) {
      throw UsageError("--idle and --expect-events exclude each other");
    }
    options.check_sequence = a.has("check-sequence");
    options.sequence_first = a.integer("sequence-from", 0, 0, UINT64_MAX / 2);
    options.sequence_end = a.integer("sequence-end", 0, 0, UINT64_MAX / 2);
    if ((a.has("sequence-from") || a.has("sequence-end")) && !options.check_sequence) {
      throw UsageError("--sequence-from and --sequence-end need --check-sequence");
    }
    if (options.idle && options.sequence_end) {
      throw UsageError("--idle and --sequence-end exclude each other");
    }
    options.reconnect_rate = a.number("reconnect-rate", 0, 0, 1e6);
    double default_timeout = options.expect_events || options.sequence_end ? 120 : 0;
    options.timeout_s = a.number("timeout", default_timeout, 0, 86400 * 365);
    options.linger_s = a.number("linger", 0, 0, 86400);
    if (options.linger_s > 0 && !options.expect_events && !options.sequence_end) {
      throw UsageError("--linger needs --expect-events or --sequence-end");
    }
    options.ready_file = a.text("ready-file");
    options.progress = !a.has("quiet");
    report_path = a.text("report");
    csv_path = a.text("latency-csv");
    options.keep_samples = !csv_path.empty();
    if (!resolve_ipv4(options.url.host, options.url.port, options.server, error)) {
      throw UsageError("--url: " + error);
    }
  } catch (const UsageError& e) {
    std::fprintf(stderr, "sse-loadgen subscribe: %s\n(see sse-loadgen subscribe --help)\n",
                 e.what());
    return 2;
  }

  SubscriberFleet fleet(options);
  std::string error;
  if (!fleet.run(error)) {
    std::fprintf(stderr, "sse-loadgen subscribe: %s\n", error.c_str());
    return 1;
  }
  const SubscribeStats& s = fleet.stats();
  std::string json = report(options, s, url_text) + "\n";
  std::fputs(json.c_str(), stdout);
  std::fflush(stdout);
  int status = 0;
  if (!report_path.empty() && !write_file(report_path, json, error)) {
    std::fprintf(stderr, "sse-loadgen subscribe: %s\n", error.c_str());
    status = 1;
  }
  if (!csv_path.empty() && !s.samples.write_csv(csv_path, error)) {
    std::fprintf(stderr, "sse-loadgen subscribe: %s\n", error.c_str());
    status = 1;
  }
  bool counted = options.expect_events || options.sequence_end;
  bool missing = counted && s.complete < s.connections;
  bool broken = s.sequence.lost || s.sequence.duplicated || s.sequence_shortfall;
  if (s.failed || s.disconnected_early || s.reconnect_failed || missing || broken) status = 1;
  return status;
}

}  // namespace loadgen
