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

enum class LinkState : uint8_t { kIdle, kConnecting, kHandshaking, kSending, kOpen, kClosed };
enum class StreamState : uint8_t { kIdle, kOpening, kStreaming, kClosed };

std::string errno_text(const char* call, int err) {
  return std::string(call) + ": " + std::strerror(err);
}

}  // namespace

// One TCP connection, carrying one stream (HTTP/1.1) or several (HTTP/2).
struct SubscriberFleet::Link {
  SubscriberFleet* fleet = nullptr;
  sidecar::UniqueFd fd;
  sidecar::EventPtr ev;
  TlsClient tls;                        // https only
  std::unique_ptr<H2ClientSession> h2;  // HTTP/2, once the handshake chose h2
  uint32_t index = 0;
  uint32_t first = 0;  // its streams are first .. first + count - 1
  uint32_t count = 0;
  uint32_t opening = 0;  // of its streams, those waiting for their response head
  uint32_t live = 0;     // of its streams, those opening or streaming; it closes at 0
  uint32_t sent = 0;     // HTTP/1.1: request bytes written so far
  short watched = 0;     // the events `ev` waits for (persistent ones only)
  LinkState state = LinkState::kIdle;
  bool initial = false;  // opened by launch_due(), counted in pending_links_ until settled
};

// One subscriber: what the server sent it, and what that counts for.
struct SubscriberFleet::Stream {
  Link* link = nullptr;
  HttpResponseDecoder http;  // HTTP/1.1 only
  SseParser sse;
  SequenceCheck check;
  std::string last_id;  // with reconnect_rate: sent as Last-Event-ID on reopening
  int64_t started_mono = 0;
  int64_t last_event_ns = 0;  // realtime receive time of the last event
  uint64_t events = 0;
  uint32_t index = 0;
  int32_t h2_id = 0;  // HTTP/2: its stream id while the stream is open on the connection
  StreamState state = StreamState::kIdle;
  bool complete = false;   // received expect_events (or reached sequence_end)
  bool reopening = false;  // a reconnect, between close and its response head
};

SubscriberFleet::SubscriberFleet(SubscribeOptions options)
    : options_(std::move(options)), read_buffer_(new char[kReadBufferBytes]) {
  stats_.connections = options_.connections;
  authority_ = options_.url.authority();
  if (options_.http2) streams_per_link_ = std::max<uint32_t>(1, options_.streams_per_connection);
  link_count_ = (options_.connections + streams_per_link_ - 1) / streams_per_link_;
  streams_.reset(new Stream[options_.connections]);
  links_.reset(new Link[link_count_]);
  for (uint32_t j = 0; j < link_count_; ++j) {
    Link& l = links_[j];
    l.fleet = this;
    l.index = j;
    l.first = j * streams_per_link_;
    l.count = std::min(streams_per_link_, options_.connections - l.first);
  }
  for (uint32_t i = 0; i < options_.connections; ++i) {
    streams_[i].link = &links_[i / streams_per_link_];
    streams_[i].index = i;
    streams_[i].check = SequenceCheck(options_.sequence_first);
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
  if (options_.url.https) {
    TlsClientOptions t;
    t.host = options_.url.host;
    t.ca_file = options_.ca_file;
    t.insecure = options_.insecure;
    // As browsers offer them: a server without h2 then says so by choosing http/1.1, and the
    // streams fail with that reason instead of a bare handshake failure.
    t.alpn = options_.http2 ? std::vector<std::string>{"h2", "http/1.1"}
                            : std::vector<std::string>{"http/1.1"};
    tls_ = TlsClientContext::create(t, error);
    if (!tls_) return false;
  } else if (options_.http2) {
    error = "HTTP/2 needs an https:// URL";
    return false;
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
  uint64_t due = link_count_;
  if (options_.connect_rate > 0) {
    double elapsed_s = static_cast<double>(monotonic_ns() - launch_start_mono_) / 1e9;
    due = std::min<uint64_t>(due, static_cast<uint64_t>(options_.connect_rate * elapsed_s) + 1);
  }
  uint32_t budget = kLaunchBatch;
  while (launched_ < due && budget > 0 && pending_links_ < options_.max_pending) {
    --budget;
    Link& l = links_[launched_++];
    l.initial = true;
    ++pending_links_;
    open_link(l);
  }
  if (launched_ == link_count_) event_del(launch_ev_.get());
}

void SubscriberFleet::open_link(Link& l) {
  int64_t now = monotonic_ns();
  if (stats_.first_attempt_mono == 0) stats_.first_attempt_mono = now;
  l.opening = l.live = l.count;
  l.sent = 0;
  for (uint32_t i = l.first; i < l.first + l.count; ++i) {
    streams_[i].state = StreamState::kOpening;
    streams_[i].started_mono = now;
  }
  ++stats_.tcp_connections;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail_link(l, errno_text("socket", errno));
  l.fd.reset(fd);
  l.state = LinkState::kConnecting;
  if (!sources_.empty()) {
    // Without IP_BIND_ADDRESS_NO_PORT, bind() would reserve a port unique to the address
    // alone; with it the port is picked at connect() and only the 4-tuple must be unique.
    int one = 1;
    ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    const sockaddr_in& src = sources_[l.index % sources_.size()];
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&src), sizeof src) != 0) {
      return fail_link(l, errno_text("bind", errno));
    }
  }
  const sockaddr_in& dst = options_.server;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&dst), sizeof dst) == 0) return connected(l);
  if (errno != EINPROGRESS) return fail_link(l, errno_text("connect", errno));
  watch(l, EV_WRITE);
}

void SubscriberFleet::watch(Link& l, short what) {
  // A persistent event already waiting for the same things stays as it is.
  if (l.ev && (what & EV_PERSIST) && l.watched == what) return;
  if (l.ev) {
    event_del(l.ev.get());
    event_assign(l.ev.get(), base_.get(), l.fd.get(), what, &on_io, &l);
  } else {
    l.ev.reset(event_new(base_.get(), l.fd.get(), what, &on_io, &l));
  }
  l.watched = (what & EV_PERSIST) ? what : 0;
  event_add(l.ev.get(), nullptr);
}

void SubscriberFleet::on_io(evutil_socket_t, short, void* arg) {
  auto* l = static_cast<Link*>(arg);
  SubscriberFleet* fleet = l->fleet;
  switch (l->state) {
    case LinkState::kConnecting:
      fleet->finish_connect(*l);
      break;
    case LinkState::kHandshaking:
      fleet->handshake(*l);
      break;
    case LinkState::kSending:
      fleet->send_request(*l);
      break;
    case LinkState::kOpen:
      if (l->h2) {
        fleet->h2_io(*l);
      } else if (l->tls) {
        fleet->receive_tls(*l);
      } else {
        fleet->receive(*l);
      }
      break;
    case LinkState::kIdle:
    case LinkState::kClosed:
      break;
  }
}

void SubscriberFleet::finish_connect(Link& l) {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(l.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) return fail_link(l, errno_text("connect", err));
  connected(l);
}

void SubscriberFleet::connected(Link& l) {
  if (!tls_) {
    l.state = LinkState::kSending;
    return send_request(l);
  }
  if (!l.tls.start(*tls_, l.fd.get())) return fail_link(l, "tls: cannot create a session");
  l.state = LinkState::kHandshaking;
  handshake(l);
}

void SubscriberFleet::handshake(Link& l) {
  std::string error;
  switch (l.tls.handshake(error)) {
    case TlsClient::Status::kDone:
      break;
    case TlsClient::Status::kWantRead:
      return watch(l, EV_READ);
    case TlsClient::Status::kWantWrite:
      return watch(l, EV_WRITE);
    case TlsClient::Status::kClosed:
    case TlsClient::Status::kFailed:
      return fail_link(l, error);
  }
  if (!options_.http2) {
    l.state = LinkState::kSending;
    return send_request(l);
  }
  std::string_view alpn = l.tls.alpn();
  if (alpn != "h2") {
    return fail_link(l, alpn.empty() ? std::string("ALPN: the server chose no protocol, not h2")
                                     : "ALPN: the server chose " + std::string(alpn) + ", not h2");
  }
  open_h2(l);
}

void SubscriberFleet::send_request(Link& l) {
  Stream& s = streams_[l.first];
  request_.assign("GET ");
  options_.target.expand(s.index, request_);
  request_.append(" HTTP/1.1\r\nHost: ");
  request_.append(authority_);
  request_.append("\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n");
  if (s.reopening && !s.last_id.empty()) {
    request_.append("Last-Event-ID: ").append(s.last_id).append("\r\n");
  }
  request_.append("\r\n");
  // The same bytes every time for one stream, so a TLS write that must be retried gets them.
  const char* rest = request_.data() + l.sent;
  size_t left = request_.size() - l.sent;
  if (l.tls) {
    std::string error;
    size_t n = 0;
    switch (l.tls.write(rest, left, n, error)) {
      case TlsClient::Status::kDone:
        l.sent += static_cast<uint32_t>(n);
        break;
      case TlsClient::Status::kWantRead:
        return watch(l, EV_READ);
      case TlsClient::Status::kWantWrite:
        return watch(l, EV_WRITE);
      case TlsClient::Status::kClosed:
        return fail_link(l, "closed before response head");
      case TlsClient::Status::kFailed:
        return fail_link(l, error);
    }
  } else {
    ssize_t n = ::send(l.fd.get(), rest, left, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return watch(l, EV_WRITE);
      return fail_link(l, errno_text("send", errno));
    }
    l.sent += static_cast<uint32_t>(n);
  }
  if (l.sent < request_.size()) return watch(l, EV_WRITE);
  l.state = LinkState::kOpen;
  watch(l, EV_READ | EV_PERSIST);
}

void SubscriberFleet::settle(Link& l) {
  if (--l.opening != 0 || !l.initial) return;
  l.initial = false;
  --pending_links_;
  // A free slot under max_pending: start the next attempt on the next loop turn rather than
  // from inside this callback.
  if (options_.connect_rate <= 0 && launched_ < link_count_) {
    event_active(launch_ev_.get(), EV_TIMEOUT, 0);
  }
}

void SubscriberFleet::fail_link(Link& l, const std::string& reason,
                                const std::string& streaming_reason) {
  for (uint32_t i = l.first; i < l.first + l.count; ++i) {
    Stream& s = streams_[i];
    if (s.state == StreamState::kOpening) {
      fail(s, reason);
    } else if (s.state == StreamState::kStreaming) {
      end_stream(s, streaming_reason);
    }
  }
  close_link(l);
}

void SubscriberFleet::close_link(Link& l) {
  if (l.ev) event_del(l.ev.get());
  l.watched = 0;
  // No close_notify: the streams are dropped, as a browser drops a tab's, and nothing more is
  // read; the server sees the TCP connection end either way.
  l.h2.reset();
  l.tls.reset();
  l.fd.reset();
  l.state = LinkState::kClosed;
}

// ---- HTTP/1.1 --------------------------------------------------------------------------------

void SubscriberFleet::receive(Link& l) {
  Stream& s = streams_[l.first];
  for (;;) {
    ssize_t n = ::recv(l.fd.get(), read_buffer_.get(), kReadBufferBytes, 0);
    if (n > 0) {
      stats_.bytes_received += static_cast<uint64_t>(n);
      // One clock read per read(): events that arrived together share their arrival time.
      int64_t now = realtime_ns();
      if (!consume(s, std::string_view(read_buffer_.get(), static_cast<size_t>(n)), now)) return;
      // A short read means the socket is drained; polling is level-triggered, so skipping the
      // read that would return EAGAIN saves a syscall per wakeup.
      if (static_cast<size_t>(n) < kReadBufferBytes) return;
      continue;
    }
    if (n == 0) return h1_closed(s);
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    if (errno == EINTR) continue;
    return h1_broken(s, errno_text("recv", errno));
  }
}

void SubscriberFleet::receive_tls(Link& l) {
  Stream& s = streams_[l.first];
  std::string error;
  for (;;) {
    size_t n = 0;
    // A record at a time, straight into the shared buffer; OpenSSL's read-ahead has already
    // taken every record the socket held, so this loop ends in one recv() that finds it empty
    // (a short read says nothing here: records may still wait in OpenSSL's buffer).
    switch (l.tls.read(read_buffer_.get(), kReadBufferBytes, n, error)) {
      case TlsClient::Status::kDone: {
        stats_.bytes_received += n;
        int64_t now = realtime_ns();
        if (!consume(s, std::string_view(read_buffer_.get(), n), now)) return;
        continue;
      }
      case TlsClient::Status::kWantRead:
        return watch(l, EV_READ | EV_PERSIST);
      case TlsClient::Status::kWantWrite:
        return watch(l, EV_READ | EV_WRITE | EV_PERSIST);
      case TlsClient::Status::kClosed:
        return h1_closed(s);
      case TlsClient::Status::kFailed:
        return h1_broken(s, error);
    }
  }
}

void SubscriberFleet::h1_closed(Stream& s) {
  if (s.state == StreamState::kOpening) return fail(s, "closed before response head");
  end_stream(s, s.http.finish_at_eof() ? "closed by server" : "closed mid-chunk");
}

void SubscriberFleet::h1_broken(Stream& s, const std::string& reason) {
  if (s.state == StreamState::kOpening) return fail(s, reason);
  end_stream(s, reason);
}

bool SubscriberFleet::consume(Stream& s, std::string_view in, int64_t now) {
  for (;;) {
    HttpResponseDecoder::Piece piece = s.http.next(in);
    switch (piece.kind) {
      case HttpResponseDecoder::Piece::kNeedMore:
        return true;
      case HttpResponseDecoder::Piece::kHead:
        if (s.http.status() != 200) {
          fail(s, "HTTP " + std::to_string(s.http.status()));
          return false;
        }
        stream_head(s);
        break;
      case HttpResponseDecoder::Piece::kBody:
        s.sse.feed(piece.body, [&](const SseEvent& e) { on_event(s, e, now); });
        break;
      case HttpResponseDecoder::Piece::kEnd:
        end_stream(s, "response ended");
        return false;
      case HttpResponseDecoder::Piece::kError:
        h1_broken(s, std::string("bad response: ") + s.http.error());
        return false;
    }
  }
}

// ---- HTTP/2 ----------------------------------------------------------------------------------

void SubscriberFleet::open_h2(Link& l) {
  std::string error;
  l.h2 = H2ClientSession::create(*this, error);
  if (!l.h2) return fail_link(l, error);
  l.state = LinkState::kOpen;
  for (uint32_t i = l.first; i < l.first + l.count; ++i) {
    Stream& s = streams_[i];
    if (s.state == StreamState::kOpening && !submit_h2(s, error)) {
      fail(s, error);
      if (l.state == LinkState::kClosed) return;
    }
  }
  h2_flush(l);
}

bool SubscriberFleet::submit_h2(Stream& s, std::string& error) {
  request_.clear();
  options_.target.expand(s.index, request_);
  std::string_view last_id = s.reopening ? std::string_view(s.last_id) : std::string_view();
  int32_t id = s.link->h2->submit_get({authority_, request_, last_id}, &s, error);
  if (id < 0) return false;
  s.h2_id = id;
  return true;
}

void SubscriberFleet::h2_io(Link& l) {
  // Read on every wakeup, a writable one too: a read that needed the socket writable (a TLS
  // write of its own) is retried that way.
  if (h2_receive(l)) h2_flush(l);
}

bool SubscriberFleet::h2_receive(Link& l) {
  std::string error;
  for (;;) {
    size_t n = 0;
    switch (l.tls.read(read_buffer_.get(), kReadBufferBytes, n, error)) {
      case TlsClient::Status::kDone: {
        stats_.bytes_received += n;
        h2_now_ = realtime_ns();
        in_h2_callbacks_ = true;
        bool ok = l.h2->receive(std::string_view(read_buffer_.get(), n), error);
        in_h2_callbacks_ = false;
        if (!ok) {
          fail_link(l, error);
          return false;
        }
        if (l.live == 0) {
          close_link(l);
          return false;
        }
        continue;
      }
      case TlsClient::Status::kWantRead:
      case TlsClient::Status::kWantWrite:
        return true;
      case TlsClient::Status::kClosed:
        fail_link(l, "closed before response head", "closed by server");
        return false;
      case TlsClient::Status::kFailed:
        fail_link(l, error);
        return false;
    }
  }
}

void SubscriberFleet::h2_flush(Link& l) {
  std::string error;
  bool blocked = false;
  for (;;) {
    // Sending may close streams (one the server refused): their callbacks run here too.
    in_h2_callbacks_ = true;
    bool ok = l.h2->gather(error);
    in_h2_callbacks_ = false;
    if (!ok) return fail_link(l, error);
    if (l.live == 0) return close_link(l);
    std::string_view out = l.h2->pending();
    if (out.empty()) break;
    size_t n = 0;
    TlsClient::Status status = l.tls.write(out.data(), out.size(), n, error);
    if (status == TlsClient::Status::kDone) {
      l.h2->sent(n);
      continue;
    }
    if (status == TlsClient::Status::kWantWrite || status == TlsClient::Status::kWantRead) {
      blocked = true;
      break;
    }
    if (status == TlsClient::Status::kClosed) {
      return fail_link(l, "closed before response head", "closed by server");
    }
    return fail_link(l, error);
  }
  // The server sent GOAWAY and every stream it kept is over.
  if (l.h2->finished()) return fail_link(l, "closed before response head", "closed by server");
  watch(l, static_cast<short>(EV_READ | EV_PERSIST | (blocked ? EV_WRITE : 0)));
}

void SubscriberFleet::h2_want_write(Link& l) {
  if (!in_h2_callbacks_ && l.state == LinkState::kOpen) watch(l, EV_READ | EV_WRITE | EV_PERSIST);
}

void SubscriberFleet::on_h2_head(void* stream, int status) {
  Stream& s = *static_cast<Stream*>(stream);
  if (s.state != StreamState::kOpening) return;
  if (status != 200) return fail(s, "HTTP " + std::to_string(status));
  stream_head(s);
}

void SubscriberFleet::on_h2_data(void* stream, std::string_view data) {
  Stream& s = *static_cast<Stream*>(stream);
  if (s.state != StreamState::kStreaming) return;
  s.sse.feed(data, [&](const SseEvent& e) { on_event(s, e, h2_now_); });
}

void SubscriberFleet::on_h2_close(void* stream, uint32_t error_code) {
  Stream& s = *static_cast<Stream*>(stream);
  s.h2_id = 0;  // nghttp2 has closed it: nothing to reset
  std::string reset =
      error_code ? std::string("stream reset: ") + nghttp2_http2_strerror(error_code) : "";
  if (s.state == StreamState::kOpening) {
    return fail(s, error_code ? reset : "closed before response head");
  }
  if (s.state == StreamState::kStreaming) end_stream(s, error_code ? reset : "response ended");
}

// ---- streams ---------------------------------------------------------------------------------

void SubscriberFleet::stream_head(Stream& s) {
  s.state = StreamState::kStreaming;
  ++streaming_;
  settle(*s.link);
  if (s.reopening) {
    s.reopening = false;
    --reopening_;
    ++stats_.reconnected;
    return;
  }
  ++stats_.connected;
  stats_.last_head_mono = monotonic_ns();
  attempt_finished();
}

void SubscriberFleet::on_event(Stream& s, const SseEvent& e, int64_t now) {
  std::string_view data = e.data;
  std::optional<int64_t> sent = payload_timestamp(data);
  // Stamped before this run began: history the server replays on subscribe (Nchan's
  // nchan_subscriber_first_message newest, say), not a delivery of this run.
  if (sent && *sent < stats_.start_realtime) {
    ++stats_.stale_events;
    return;
  }
  ++s.events;
  ++interval_events_;
  ++stats_.events_received;
  if (options_.reconnect_rate > 0) s.last_id.assign(e.id);
  if (s.last_event_ns) stats_.max_gap_ns = std::max(stats_.max_gap_ns, now - s.last_event_ns);
  s.last_event_ns = now;
  if (e.type == "sidecar.missed") {
    ++stats_.missed_notices;
    if (options_.check_sequence) s.check.missed(stats_.sequence);
  } else if (options_.check_sequence) {
    if (std::optional<PayloadSequence> q = payload_sequence(data)) {
      s.check.event(q->topic, q->seq, stats_.sequence);
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
  if (!s.complete && stream_complete(s)) {
    s.complete = true;
    ++stats_.complete;
    maybe_finish();
  }
}

bool SubscriberFleet::stream_complete(const Stream& s) const {
  if (options_.expect_events && s.events >= options_.expect_events) return true;
  return options_.sequence_end && s.check.reached(options_.sequence_end);
}

void SubscriberFleet::finish_sequences() {
  if (!options_.check_sequence) return;
  for (uint32_t i = 0; i < options_.connections; ++i) {
    const Stream& s = streams_[i];
    if (s.check.empty()) ++stats_.unsequenced_streams;
    if (options_.sequence_end)
      stats_.sequence_shortfall += s.check.shortfall(options_.sequence_end);
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
      Stream& s = streams_[next_reconnect_++ % n];
      if (s.state == StreamState::kStreaming && !s.complete) {
        reconnect(s);
        break;
      }
    }
  }
}

void SubscriberFleet::reconnect(Stream& s) {
  Link& l = *s.link;
  --streaming_;
  ++reopening_;
  ++stats_.reconnects;
  s.reopening = true;
  s.sse.reset();
  if (l.h2) {
    // A new stream on the same connection, as EventSource does over HTTP/2; the old one is
    // reset, and the connection's other streams go on.
    l.h2->cancel(s.h2_id);
    s.h2_id = 0;
    s.state = StreamState::kOpening;
    s.started_mono = monotonic_ns();
    ++l.opening;
    std::string error;
    if (!submit_h2(s, error)) return fail(s, error);
    return h2_want_write(l);
  }
  close_link(l);
  s.http.reset();
  open_link(l);
}

// ---- endings ---------------------------------------------------------------------------------

void SubscriberFleet::close_stream(Stream& s) {
  Link& l = *s.link;
  bool opening = s.state == StreamState::kOpening;
  s.state = StreamState::kClosed;
  bool reset = false;
  if (s.h2_id != 0) {
    if (l.h2) l.h2->cancel(s.h2_id);
    s.h2_id = 0;
    reset = true;
  }
  if (opening) settle(l);
  if (--l.live == 0) {
    // Inside the session's callbacks the link is closed after they return (h2_receive,
    // h2_flush): the session must outlive its own call.
    if (!in_h2_callbacks_) close_link(l);
  } else if (reset) {
    h2_want_write(l);
  }
}

void SubscriberFleet::fail(Stream& s, const std::string& reason) {
  close_stream(s);
  if (s.reopening) {
    // The stream was counted as connected once; its reopening failed, which ends it.
    s.reopening = false;
    --reopening_;
    ++stats_.reconnect_failed;
    ++stats_.failure_reasons["reconnect: " + reason];
    return maybe_finish();
  }
  ++stats_.failed;
  ++stats_.failure_reasons[reason];
  attempt_finished();
}

void SubscriberFleet::end_stream(Stream& s, const std::string& reason) {
  close_stream(s);
  --streaming_;
  if (!s.complete) {
    ++stats_.disconnected_early;
    ++stats_.disconnect_reasons[reason];
  }
  maybe_finish();
}

void SubscriberFleet::attempt_finished() {
  if (++attempts_finished_ == options_.connections) ready();
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
  uint64_t opened = std::min<uint64_t>(options_.connections, launched_ * streams_per_link_);
  for (uint64_t i = 0; i < opened; ++i) {
    Stream& s = streams_[i];
    if (s.state == StreamState::kOpening && now_mono - s.started_mono > limit) {
      fail(s, "no response head within timeout");
    }
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
