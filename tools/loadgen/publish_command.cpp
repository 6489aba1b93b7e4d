// `sse-loadgen publish`: options in, a Publisher for the target run, JSON report out.
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "tools/loadgen/args.hpp"
#include "tools/loadgen/commands.hpp"
#include "tools/loadgen/http_publisher.hpp"
#include "tools/loadgen/json_writer.hpp"
#include "tools/loadgen/socket_publisher.hpp"

namespace loadgen {

namespace {

constexpr const char* kUsage =
    R"(usage: sse-loadgen publish --target TARGET --topics TEMPLATE [options]

Publishes events whose data is "t=<CLOCK_REALTIME ns>;" padded with 'x' to --size bytes, so
`sse-loadgen subscribe` can time their delivery.

  --target TARGET       sidecar-socket:/path/to/publish.sock   NDJSON lines on the sidecar's
                                                               Unix socket
                        nchan-http:http://127.0.0.1:8081       HTTP POSTs to Nchan: {base}/pub
                                                               when TEMPLATE has no {i}, else
                                                               {base}/pubm?id=<topic>
  --topics TEMPLATE     topic of each event; {i} becomes the topic index 0..K-1 ({i%M} also
                        works). Without {i} every event goes to the one topic (for nchan-http:
                        to {base}/pub, whose channel the server config fixes; the text is
                        not sent).
  --topic-count K       number of topic indexes (default 1)
  --events M            events to publish (default 1000)
  --rate R              events per second (default 0 = back to back, in large batches)
  --size BYTES          data bytes per event (default 128; at least the ~22-byte stamp)
  --random-topics       pick each topic uniformly at random instead of round-robin
  --seed S              seed for --random-topics (default 1; same seed, same sequence)
  --sequence            number each topic's events 1, 2, 3, ...: the data starts
                        "t=<ns>;q=<topic index>.<number>;", which `sse-loadgen subscribe
                        --check-sequence` checks. Give each topic one sequenced publisher.
  --http-connections C  nchan-http: parallel keep-alive connections (default 4)
  --timeout S           wait at most S seconds for replies after the last send (default 60)
  --quiet               no progress line on stderr
  --help                this text

Every event gets a reply (a reply line on the socket, an HTTP status from Nchan); ok and error
replies are counted and the first few errors are quoted in the JSON report printed at the end.
Its first_send_ts and last_send_ts are the stamps (CLOCK_REALTIME ns) of the first and the last
event sent.
Exit status: 0 when every event was published ok; 1 otherwise; 2 for bad arguments.
)";

constexpr OptionSpec kOptions[] = {
    {"target", true},         {"topics", true}, {"topic-count", true},
    {"events", true},         {"rate", true},   {"size", true},
    {"random-topics", false}, {"seed", true},   {"http-connections", true},
    {"timeout", true},        {"quiet", false}, {"help", false},
    {"sequence", false},
};

std::string report(const PublishOptions& o, const PublishStats& s) {
  auto ms = [](int64_t ns) { return static_cast<double>(ns) / 1e6; };
  int64_t send_end = s.last_send_mono ? s.last_send_mono : s.end_mono;
  double elapsed_ms = ms(s.end_mono - s.start_mono);
  double send_ms = ms(send_end - s.start_mono);
  std::string samples = "[";
  for (const std::string& e : s.error_samples) {
    if (samples.size() > 1) samples += ',';
    samples += json_quote(e);
  }
  samples += ']';
  uint64_t replied = s.ok + s.errors;
  JsonObject j;
  j.add_string("target", o.target_text)
      .add_uint("events", o.events)
      .add_uint("sent", s.sent)
      .add_uint("ok", s.ok)
      .add_uint("errors", s.errors)
      .add_uint("missing_replies", s.sent > replied ? s.sent - replied : 0)
      .add_double("send_ms", send_ms)
      .add_double("elapsed_ms", elapsed_ms)
      .add_double("send_rate", send_ms > 0 ? static_cast<double>(s.sent) / (send_ms / 1e3) : 0)
      .add_double("rate_achieved",
                  elapsed_ms > 0 ? static_cast<double>(replied) / (elapsed_ms / 1e3) : 0)
      .add_double("rate_requested", o.rate)
      .add_uint("size", o.size)
      .add_uint("topic_count", o.topic_count)
      .add_int("first_send_ts", s.first_stamp_ns)
      .add_int("last_send_ts", s.last_stamp_ns);
  if (o.target == PublishOptions::Target::kSidecarSocket) {
    j.add_uint("subscribers_total", s.subscribers_total);
  } else {
    // Which Nchan location was used: with no {i} in --topics the topic text is not sent.
    j.add_string("nchan_endpoint", o.topics.has_index() ? "/pubm?id=<topic>" : "/pub")
        .add_uint("http_connections", o.http_connections)
        .add_uint("reconnects", s.reconnects);
  }
  j.add_bool("timed_out", s.timed_out)
      .add_bool("interrupted", s.interrupted)
      .add_raw("error_samples", samples);
  return j.str();
}

}  // namespace

int publish_command(std::span<char* const> args) {
  PublishOptions o;
  try {
    ParsedArgs a = ParsedArgs::parse(args, kOptions);
    if (a.has("help")) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    o.target_text = a.required_text("target");
    std::string error;
    constexpr std::string_view kSocket = "sidecar-socket:";
    constexpr std::string_view kNchan = "nchan-http:";
    std::string_view t = o.target_text;
    if (t.substr(0, kSocket.size()) == kSocket) {
      o.target = PublishOptions::Target::kSidecarSocket;
      o.socket_path = std::string(t.substr(kSocket.size()));
      if (o.socket_path.empty()) throw UsageError("--target: no socket path after sidecar-socket:");
    } else if (t.substr(0, kNchan.size()) == kNchan) {
      o.target = PublishOptions::Target::kNchanHttp;
      std::optional<HttpUrl> base = parse_http_url(t.substr(kNchan.size()), error);
      if (!base) throw UsageError("--target: " + error);
      // Publishing is the app's side, on loopback: the comparison is about the subscribers.
      if (base->https) throw UsageError("--target: nchan-http: takes an http:// URL, not https://");
      o.base = *base;
      if (!resolve_ipv4(o.base.host, o.base.port, o.server, error)) {
        throw UsageError("--target: " + error);
      }
    } else {
      throw UsageError("--target must start with sidecar-socket: or nchan-http:");
    }
    std::optional<IndexTemplate> topics = IndexTemplate::parse(a.required_text("topics"), error);
    if (!topics) throw UsageError("--topics: " + error);
    o.topics = std::move(*topics);
    o.topic_count = a.integer("topic-count", 1, 1, UINT32_MAX);
    o.events = a.integer("events", 1000, 0, UINT64_MAX / 2);
    o.rate = a.number("rate", 0, 0, 1e9);
    o.size = static_cast<size_t>(a.integer("size", 128, 0, 64LL * 1024 * 1024));
    o.random_topics = a.has("random-topics");
    o.seed = a.integer("seed", 1, 0, UINT64_MAX);
    o.sequence = a.has("sequence");
    if (o.sequence && o.topic_count > 100'000'000) {
      throw UsageError("--sequence keeps a counter per topic: at most 100000000 topics");
    }
    o.http_connections = static_cast<uint32_t>(a.integer("http-connections", 4, 1, 1000));
    o.timeout_s = a.number("timeout", 60, 0, 86400 * 365);
    o.progress = !a.has("quiet");
  } catch (const UsageError& e) {
    std::fprintf(stderr, "sse-loadgen publish: %s\n(see sse-loadgen publish --help)\n", e.what());
    return 2;
  }

  std::unique_ptr<Publisher> publisher;
  if (o.target == PublishOptions::Target::kSidecarSocket) {
    publisher = std::make_unique<SocketPublisher>(o);
  } else {
    publisher = std::make_unique<HttpPublisher>(o);
  }
  std::string error;
  if (!publisher->run(error)) {
    std::fprintf(stderr, "sse-loadgen publish: %s\n", error.c_str());
    return 1;
  }
  const PublishStats& s = publisher->stats();
  std::string json = report(o, s) + "\n";
  std::fputs(json.c_str(), stdout);
  std::fflush(stdout);
  bool clean = s.ok == o.events && s.errors == 0 && s.error_samples.empty();
  return clean ? 0 : 1;
}

}  // namespace loadgen
