#include "tools/loadgen/subscriber_fleet.hpp"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "tools/loadgen/clock.hpp"
#include "tools/loadgen/http_response_decoder.hpp"
#include "tools/loadgen/payload.hpp"
#include "tools/loadgen/sse_parser.hpp"

namespace loadgen {

namespace {

constexpr size_t kReadBufferBytes = size_t{64} * 1024;
// Attempts started per launcher wakeup, so opening connections never starves the streams
// already open of loop turns.
constexpr uint32_t kLaunchBatch = 256;
constexpr timeval kLaunchInterval{0, 1000};
// Reconnects are spread over 10 ms ticks: a steady trickle, as browsers come back one by one.
constexpr timeval kReconnectInterval{0, 10000};

enum class ConnState : uint8_t { kIdle, kConnecting, kSending, kHead, kStreaming, kClosed };

}  // namespace

struct SubscriberFleet::Connection {
  SubscriberFleet* fleet = nullptr;
  sidecar::UniqueFd fd;
  sidecar::EventPtr ev;
  HttpResponseDecoder http;
  SseParser sse;
  SequenceCheck check;
  std::string last_id;  // with reconnect_rate: sent as Last-Event-ID on reopening
  int64_t started_mono = 0;
  int64_t last_event_ns = 0;  // realtime receive time of the last event
  uint64_t events = 0;
  uint32_t index = 0;
  uint32_t sent = 0;  // request bytes written so far
  ConnState state = ConnState::kIdle;
  bool complete = false;   // received expect_events (or reached sequence_end)
  bool reopening = false;  // a reconnect, between close and its response head
};

SubscriberFleet::SubscriberFleet(SubscribeOptions options)
    : options_(std::move(options)),
      read_buffer_(new char[kReadBufferBytes]),
      conns_(new Connection[options_.connections]) {
  stats_.connections = options_.connections;
  host_header_ = options_.url.host;
  if (options_.url.port != 80) host_header_.append(":").append(std::to_string(options_.url.port));
  for (uint32_t i = 0; i < options_.connections; ++i) {
    conns_[i].fleet = this;
    conns_[i].index = i;
    conns_[i].check = SequenceCheck(options_.sequence_first);
  }
}

SubscriberFleet::~SubscriberFleet() = default;

bool SubscriberFleet::run(std::string& error) {
  for (uint32_t s = 0; s < options_.sources; ++s) {
    sockaddr_in addr{};
    if (!ipv4_plus(options_.source_base, s, addr)) {
      error = "bad source address '" + options_.source_base + "'";
      return false;
    }
    sources_.push_back(addr);
  }
  base_.reset(event_base_new());
  if (!base_) {
    error = "event_base_new failed";
    return false;
  }
  launch_ev_.reset(event_new(base_.get(), -1, EV_PERSIST, &on_launch_tick, this));
  reconnect_ev_.reset(event_new(base_.get(), -1, EV_PERSIST, &on_reconnect_tick, this));
  if (!launch_ev_ || !reconnect_ev_) {
    error = "cannot create loop events";
    return false;
  }
  if (!control_.start(base_.get(), *this, error)) return false;

  stats_.start_mono = monotonic_ns();
  stats_.start_realtime = realtime_ns();
  launch_start_mono_ = stats_.start_mono;
  last_progress_mono_ = stats_.start_mono;
  if (options_.connections == 0) {
    ready();
  } else {
    event_add(launch_ev_.get(), &kLaunchInterval);
    launch_due();
  }
  // The run may already be over (no connections, or every attempt failed at once); a loopbreak
  // issued before dispatch would be forgotten, hence the flag.
  if (!stopping_) event_base_dispatch(base_.get());
  stats_.end_mono = monotonic_ns();
  finish_sequences();
  // A closing progress line, unless the last tick just printed one.
  if (options_.progress && stats_.end_mono - last_progress_mono_ > 100'000'000) print_progress();
  return true;
}

// ---- opening ---------------------------------------------------------------------------------

void SubscriberFleet::on_launch_tick(evutil_socket_t, short, void* arg) {
  static_cast<SubscriberFleet*>(arg)->launch_due();
}

void SubscriberFleet::launch_due() {
  uint64_t due = options_.connections;
  if (options_.connect_rate > 0) {
    double elapsed_s = static_cast<double>(monotonic_ns() - launch_start_mono_) / 1e9;
    due = std::min<uint64_t>(due, static_cast<uint64_t>(options_.connect_rate * elapsed_s) + 1);
  }
  uint32_t budget = kLaunchBatch;
  while (launched_ < due && budget > 0 && launched_ - attempts_finished_ < options_.max_pending) {
    --budget;
    launch(conns_[launched_++]);
  }
  if (launched_ == options_.connections) event_del(launch_ev_.get());
}

void SubscriberFleet::launch(Connection& c) {
  c.started_mono = monotonic_ns();
  if (stats_.first_attempt_mono == 0) stats_.first_attempt_mono = c.started_mono;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail_errno(c, "socket", errno);
  c.fd.reset(fd);
  c.state = ConnState::kConnecting;
  if (!sources_.empty()) {
    // Without IP_BIND_ADDRESS_NO_PORT, bind() would reserve a port unique to the address
    // alone; with it the port is picked at connect() and only the 4-tuple must be unique.
    int one = 1;
    ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    const sockaddr_in& src = sources_[c.index % sources_.size()];
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&src), sizeof src) != 0) {
      return fail_errno(c, "bind", errno);
    }
  }
  const sockaddr_in& dst = options_.server;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&dst), sizeof dst) == 0) {
    c.state = ConnState::kSending;
    return send_request(c);
  }
  if (errno != EINPROGRESS) return fail_errno(c, "connect", errno);
  watch(c, EV_WRITE);
}

void SubscriberFleet::watch(Connection& c, short what) {
  if (c.ev) {
    event_del(c.ev.get());
    event_assign(c.ev.get(), base_.get(), c.fd.get(), what, &on_io, &c);
  } else {
    c.ev.reset(event_new(base_.get(), c.fd.get(), what, &on_io, &c));
  }
  event_add(c.ev.get(), nullptr);
}

void SubscriberFleet::on_io(evutil_socket_t, short, void* arg) {
  auto* c = static_cast<Connection*>(arg);
  SubscriberFleet* fleet = c->fleet;
  switch (c->state) {
    case ConnState::kConnecting:
      fleet->finish_connect(*c);
      break;
    case ConnState::kSending:
      fleet->send_request(*c);
      break;
    case ConnState::kHead:
    case ConnState::kStreaming:
      fleet->receive(*c);
      break;
    case ConnState::kIdle:
    case ConnState::kClosed:
      break;
  }
}

void SubscriberFleet::finish_connect(Connection& c) {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(c.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) return fail_errno(c, "connect", err);
  c.state = ConnState::kSending;
  send_request(c);
}

void SubscriberFleet::send_request(Connection& c) {
  request_.assign("GET ");
  options_.target.expand(c.index, request_);
  request_.append(" HTTP/1.1\r\nHost: ");
  request_.append(host_header_);
  request_.append("\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n");
  if (c.reopening && !c.last_id.empty()) {
    request_.append("Last-Event-ID: ").append(c.last_id).append("\r\n");
  }
  request_.append("\r\n");
  ssize_t n = ::send(c.fd.get(), request_.data() + c.sent, request_.size() - c.sent, MSG_NOSIGNAL);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
      return watch(c, EV_WRITE);
    }
    return fail_errno(c, "send", errno);
  }
  c.sent += static_cast<uint32_t>(n);
  if (c.sent < request_.size()) return watch(c, EV_WRITE);
  c.state = ConnState::kHead;
  watch(c, EV_READ | EV_PERSIST);
}

// ---- streaming -------------------------------------------------------------------------------

void SubscriberFleet::receive(Connection& c) {
  for (;;) {
    ssize_t n = ::recv(c.fd.get(), read_buffer_.get(), kReadBufferBytes, 0);
    if (n > 0) {
      stats_.bytes_received += static_cast<uint64_t>(n);
      // One clock read per read(): events that arrived together share their arrival time.
      int64_t now = realtime_ns();
      if (!consume(c, std::string_view(read_buffer_.get(), static_cast<size_t>(n)), now)) return;
      // A short read means the socket is drained; polling is level-triggered, so skipping the
      // read that would return EAGAIN saves a syscall per wakeup.
      if (static_cast<size_t>(n) < kReadBufferBytes) return;
      continue;
    }
    if (n == 0) {
      if (c.state == ConnState::kHead) return fail(c, "closed before response head");
      return end_stream(c, c.http.finish_at_eof() ? "closed by server" : "closed mid-chunk");
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    if (errno == EINTR) continue;
    if (c.state == ConnState::kHead) return fail_errno(c, "recv", errno);
    return end_stream(c, std::string("recv: ") + std::strerror(errno));
  }
}

bool SubscriberFleet::consume(Connection& c, std::string_view in, int64_t now) {
  for (;;) {
    HttpResponseDecoder::Piece piece = c.http.next(in);
    switch (piece.kind) {
      case HttpResponseDecoder::Piece::kNeedMore:
        return true;
      case HttpResponseDecoder::Piece::kHead:
        if (c.http.status() != 200) {
          fail(c, "HTTP " + std::to_string(c.http.status()));
          return false;
        }
        c.state = ConnState::kStreaming;
        ++streaming_;
        if (c.reopening) {
          c.reopening = false;
          --reopening_;
          ++stats_.reconnected;
          break;
        }
        ++stats_.connected;
        stats_.last_head_mono = monotonic_ns();
        attempt_finished();
        break;
      case HttpResponseDecoder::Piece::kBody:
        c.sse.feed(piece.body, [&](const SseEvent& e) { on_event(c, e, now); });
        break;
      case HttpResponseDecoder::Piece::kEnd:
        end_stream(c, "response ended");
        return false;
      case HttpResponseDecoder::Piece::kError:
        if (c.state == ConnState::kHead) {
          fail(c, std::string("bad response: ") + c.http.error());
        } else {
          end_stream(c, std::string("bad response: ") + c.http.error());
        }
        return false;
    }
  }
}

void SubscriberFleet::on_event(Connection& c, const SseEvent& e, int64_t now) {
  std::string_view data = e.data;
  std::optional<int64_t> sent = payload_timestamp(data);
  // Stamped before this run began: history the server replays on subscribe (Nchan's
  // nchan_subscriber_first_message newest, say), not a delivery of this run.
  if (sent && *sent < stats_.start_realtime) {
    ++stats_.stale_events;
    return;
  }
  ++c.events;
  ++interval_events_;
  ++stats_.events_received;
  if (options_.reconnect_rate > 0) c.last_id.assign(e.id);
  if (c.last_event_ns) stats_.max_gap_ns = std::max(stats_.max_gap_ns, now - c.last_event_ns);
  c.last_event_ns = now;
  if (e.type == "sidecar.missed") {
    ++stats_.missed_notices;
    if (options_.check_sequence) c.check.missed(stats_.sequence);
  } else if (options_.check_sequence) {
    if (std::optional<PayloadSequence> q = payload_sequence(data)) {
      c.check.event(q->topic, q->seq, stats_.sequence);
    }
  }
  stats_.deliveries.add(now, sent);
  if (sent) {
    int64_t latency = now - *sent;
    if (latency < 0) {
      ++stats_.negative_latencies;
      latency = 0;
    }
    stats_.latency.record(static_cast<uint64_t>(latency));
    interval_latency_.record(static_cast<uint64_t>(latency));
    if (options_.keep_samples) stats_.samples.add(now, latency);
  } else {
    ++stats_.events_without_timestamp;
  }
  if (!c.complete && stream_complete(c)) {
    c.complete = true;
    ++stats_.complete;
    maybe_finish();
  }
}

bool SubscriberFleet::stream_complete(const Connection& c) const {
  if (options_.expect_events && c.events >= options_.expect_events) return true;
  return options_.sequence_end && c.check.reached(options_.sequence_end);
}

void SubscriberFleet::finish_sequences() {
  if (!options_.check_sequence) return;
  for (uint32_t i = 0; i < options_.connections; ++i) {
    const Connection& c = conns_[i];
    if (c.check.empty()) ++stats_.unsequenced_streams;
    if (options_.sequence_end)
      stats_.sequence_shortfall += c.check.shortfall(options_.sequence_end);
  }
}

// ---- reconnecting ----------------------------------------------------------------------------

void SubscriberFleet::on_reconnect_tick(evutil_socket_t, short, void* arg) {
  static_cast<SubscriberFleet*>(arg)->reconnects_due();
}

void SubscriberFleet::reconnects_due() {
  double elapsed_s = static_cast<double>(monotonic_ns() - stats_.ready_mono) / 1e9;
  auto due = static_cast<uint64_t>(options_.reconnect_rate * elapsed_s);
  uint32_t n = options_.connections;
  while (reconnects_started_ < due) {
    ++reconnects_started_;
    // The next stream in index order that is streaming; a turn over all of them at most.
    for (uint32_t tries = 0; tries < n; ++tries) {
      Connection& c = conns_[next_reconnect_++ % n];
      if (c.state == ConnState::kStreaming && !c.complete) {
        reconnect(c);
        break;
      }
    }
  }
}

void SubscriberFleet::reconnect(Connection& c) {
  close(c);
  --streaming_;
  ++reopening_;
  ++stats_.reconnects;
  c.reopening = true;
  c.sent = 0;
  c.http.reset();
  c.sse.reset();
  launch(c);
}

// ---- endings ---------------------------------------------------------------------------------

void SubscriberFleet::close(Connection& c) {
  if (c.ev) event_del(c.ev.get());
  c.fd.reset();
  c.state = ConnState::kClosed;
}

void SubscriberFleet::fail(Connection& c, const std::string& reason) {
  close(c);
  if (c.reopening) {
    // The stream was counted as connected once; its reopening failed, which ends it.
    c.reopening = false;
    --reopening_;
    ++stats_.reconnect_failed;
    ++stats_.failure_reasons["reconnect: " + reason];
    return maybe_finish();
  }
  ++stats_.failed;
  ++stats_.failure_reasons[reason];
  attempt_finished();
}

void SubscriberFleet::fail_errno(Connection& c, const char* call, int err) {
  fail(c, std::string(call) + ": " + std::strerror(err));
}

void SubscriberFleet::end_stream(Connection& c, const std::string& reason) {
  close(c);
  --streaming_;
  if (!c.complete) {
    ++stats_.disconnected_early;
    ++stats_.disconnect_reasons[reason];
  }
  maybe_finish();
}

void SubscriberFleet::attempt_finished() {
  if (++attempts_finished_ == options_.connections) return ready();
  // A free slot under max_pending: start the next attempt on the next loop turn rather than
  // from inside this callback.
  if (options_.connect_rate <= 0 && launched_ < options_.connections) {
    event_active(launch_ev_.get(), EV_TIMEOUT, 0);
  }
}

void SubscriberFleet::ready() {
  ready_ = true;
  stats_.ready_mono = monotonic_ns();
  std::printf("READY %llu %llu\n", static_cast<unsigned long long>(stats_.connected),
              static_cast<unsigned long long>(stats_.failed));
  std::fflush(stdout);
  if (!options_.ready_file.empty()) {
    if (FILE* f = std::fopen(options_.ready_file.c_str(), "w")) {
      std::fprintf(f, "%llu %llu\n", static_cast<unsigned long long>(stats_.connected),
                   static_cast<unsigned long long>(stats_.failed));
      std::fclose(f);
    } else {
      std::fprintf(stderr, "sse-loadgen: cannot create %s: %s\n", options_.ready_file.c_str(),
                   std::strerror(errno));
    }
  }
  if (options_.timeout_s > 0) control_.arm_deadline(options_.timeout_s);
  if (options_.reconnect_rate > 0) event_add(reconnect_ev_.get(), &kReconnectInterval);
  maybe_finish();
}

void SubscriberFleet::maybe_finish() {
  if (!ready_) return;
  // With no stream open (or reopening) nothing more can arrive, whatever the mode.
  if (streaming_ == 0 && reopening_ == 0) return stop();
  bool counted = options_.expect_events || options_.sequence_end;
  if (options_.idle || !counted || stats_.lingered) return;
  uint64_t ended = stats_.complete + stats_.failed + stats_.disconnected_early;
  if (ended + stats_.reconnect_failed < stats_.connections) return;
  if (options_.linger_s <= 0) return stop();
  // Every stream has what it expected: hold them open a while longer. The deadline now ends the
  // linger, in place of the timeout.
  stats_.lingered = true;
  event_del(reconnect_ev_.get());
  control_.arm_deadline(options_.linger_s);
}

void SubscriberFleet::stop() {
  stopping_ = true;
  event_base_loopbreak(base_.get());
}

void SubscriberFleet::on_end(bool timed_out) {
  // The deadline of a linger is its planned end, not a timeout.
  if (timed_out && stats_.lingered) return stop();
  (timed_out ? stats_.timed_out : stats_.interrupted) = true;
  stop();
}

// ---- once a second ---------------------------------------------------------------------------

void SubscriberFleet::on_progress() {
  if (!ready_ || reopening_) expire_slow_attempts(monotonic_ns());
  if (options_.progress) print_progress();
}

void SubscriberFleet::expire_slow_attempts(int64_t now_mono) {
  auto limit = static_cast<int64_t>(options_.connect_timeout_s * 1e9);
  for (uint64_t i = 0; i < launched_; ++i) {
    Connection& c = conns_[i];
    bool opening = c.state == ConnState::kConnecting || c.state == ConnState::kSending ||
                   c.state == ConnState::kHead;
    if (opening && now_mono - c.started_mono > limit) fail(c, "no response head within timeout");
  }
}

void SubscriberFleet::print_progress() {
  int64_t now = monotonic_ns();
  double interval_s = std::max(1e-9, static_cast<double>(now - last_progress_mono_) / 1e9);
  last_progress_mono_ = now;
  std::fprintf(stderr,
               "[%7.1fs] connected %llu/%llu failed %llu streaming %llu ended-early %llu "
               "events %llu (%.0f/s) p99 %.3f ms\n",
               static_cast<double>(now - stats_.start_mono) / 1e9,
               static_cast<unsigned long long>(stats_.connected),
               static_cast<unsigned long long>(stats_.connections),
               static_cast<unsigned long long>(stats_.failed),
               static_cast<unsigned long long>(streaming_),
               static_cast<unsigned long long>(stats_.disconnected_early),
               static_cast<unsigned long long>(stats_.events_received),
               static_cast<double>(interval_events_) / interval_s,
               static_cast<double>(interval_latency_.percentile(0.99)) / 1e6);
  interval_events_ = 0;
  interval_latency_.reset();
}

}  // namespace loadgen
