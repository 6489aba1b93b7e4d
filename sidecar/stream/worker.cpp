#include "sidecar/stream/worker.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "sidecar/core/json_writer.hpp"
#include "sidecar/core/wall_clock.hpp"
#include "sidecar/sse/sse_format.hpp"
#include "sidecar/stream/stream_params.hpp"

namespace sidecar {
namespace {

// Accepts per wakeup, so one worker cannot take a whole connect storm while another idles.
constexpr int kAcceptsPerWake = 32;
// Pause after running out of file descriptors, instead of spinning on a ready listener.
constexpr timeval kAcceptPause{0, 100000};

constexpr std::string_view kHeartbeat = ":\n";
constexpr std::string_view kHeartbeatChunk = "2\r\n:\n\r\n";

std::string peer_name(const sockaddr_storage& addr) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (addr.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(addr).sin_addr, host, sizeof(host));
  } else if (addr.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(addr).sin6_addr, host, sizeof(host));
  }
  return host;
}

// evbuffer_add_reference cleanup: drops the reference the buffer held on the shared event.
void release_event(const void*, size_t, void* event) {
  RefCounted::release(static_cast<const Event*>(event));
}

// The event a client receives instead of a silent gap: it carries the newest id, so the
// client's next reconnect resumes from here rather than reporting the same gap again.
std::string missed_frame(const Replay& replay, std::string_view last_event_id) {
  rapidjson::StringBuffer json;
  JsonWriter w(json);
  w.StartObject();
  w.Key("last_event_id");
  write_string(w, last_event_id);
  w.Key("reason");
  w.String("events after this id are no longer available; refresh your state");
  w.EndObject();
  std::string frame;
  append_sse_event(frame, replay.newest.to_string(), "sidecar.missed", json.GetString(),
                   std::nullopt);
  return frame;
}

// Up to `spread` (a fraction) added at random, so that streams opened together (a connect storm
// after a restart) do not all end or reconnect together.
Millis spread_out(Millis base, double spread) {
  thread_local std::minstd_rand random{std::random_device{}()};
  std::uniform_real_distribution<double> extra(0, spread);
  return base + Millis(static_cast<Millis::rep>(static_cast<double>(base.count()) * extra(random)));
}

// `subject="…"` with quotes and control characters escaped: subjects come from credentials
// (a JWT's "sub") and must not be able to forge fields in the access log.
void append_quoted(std::string& out, std::string_view value) {
  out += '"';
  for (char ch : value) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) {
      char esc[8];
      std::snprintf(esc, sizeof(esc), "\\x%02x",
                    static_cast<unsigned>(static_cast<unsigned char>(ch)));
      out += esc;
    } else {
      out += ch;
    }
  }
  out += '"';
}

// The access log line of a stream that ends; never holds a credential.
std::string access_line(const StreamConn& c) {
  const AccessDecision& d = c.admission->decision;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  c.opened)
                .count();
  std::string line = "stream ended peer=" + c.peer + " subject=";
  append_quoted(line, d.subject);
  line += " auth=";
  line += to_string(d.method);
  line += " topics=";
  for (std::size_t i = 0; i < c.topics.size(); ++i) {
    if (i) line += ',';
    line += c.topics[i].text();
  }
  line += " duration_ms=" + std::to_string(ms) + " events=" + std::to_string(c.events_sent) +
          " bytes=" + std::to_string(c.bytes_sent) + " reason=";
  line += to_string(c.close_reason);
  return line;
}

}  // namespace

Worker::Worker(unsigned index, Hub& hub, Metrics& metrics, ConnectionLimits& limits,
               std::shared_ptr<const Config> config, int listen_fd)
    : index_(index),
      hub_(hub),
      metrics_(metrics),
      limits_(limits),
      config_(std::move(config)),
      listen_fd_(listen_fd),
      base_(event_base_new()) {
  if (!base_) throw std::runtime_error("cannot create worker event loop");
  access_ = make_access_policy(*config_, base_.get());
  wakeup_ = std::make_unique<LoopWakeup>(base_.get(), [this] { run_queue(); });
  accept_event_.reset(event_new(base_.get(), listen_fd_, EV_READ | EV_PERSIST, &on_accept, this));
  accept_resume_.reset(evtimer_new(base_.get(), &on_accept_resume, this));
  heartbeat_.reset(event_new(base_.get(), -1, EV_PERSIST, &on_heartbeat, this));
  reap_event_.reset(event_new(base_.get(), -1, 0, &on_reap, this));
  event_add(accept_event_.get(), nullptr);
  arm_heartbeat();
}

Worker::~Worker() {
  join();
  // Connections hold events on base_; free them before the base.
  conns_.clear();
}

void Worker::start() {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), ("sse-worker-" + std::to_string(index_)).c_str());
    event_base_dispatch(base_.get());
  });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::post_events(std::shared_ptr<const EventBatch> batch) {
  enqueue(std::move(batch));
}

void Worker::post(Task task) {
  enqueue(std::move(task));
}

void Worker::enqueue(Item item) {
  bool was_empty;
  {
    std::lock_guard lock(queue_mutex_);
    was_empty = queue_.empty();
    queue_.push_back(std::move(item));
  }
  // Only the first item since the worker last drained the queue needs a wakeup.
  if (was_empty) wakeup_->notify();
}

void Worker::run_queue() {
  std::vector<Item> items;
  {
    std::lock_guard lock(queue_mutex_);
    items.swap(queue_);
  }
  for (auto& item : items) {
    if (auto* batch = std::get_if<std::shared_ptr<const EventBatch>>(&item)) {
      deliver(**batch);
    } else {
      std::get<Task>(item)(*this);
    }
  }
  flush_dirty();
}

void Worker::reconfigure(std::shared_ptr<const Config> config) {
  bool heartbeat_changed = config->stream.heartbeat_interval != config_->stream.heartbeat_interval;
  config_ = std::move(config);
  access_ = make_access_policy(*config_, base_.get());
  if (heartbeat_changed) arm_heartbeat();
  // Every open stream is examined again under the new policy: one whose token was removed,
  // whose origin is no longer allowed or whose topics are no longer granted ends now.
  std::vector<StreamConn*> all;
  for (auto& [serial, conn] : conns_) all.push_back(conn.get());
  for (StreamConn* c : all) {
    if (c->state == StreamConn::State::kDeciding) {
      // Its pending decision belonged to the replaced policy.
      refuse(*c, 503, "configuration reloaded; retry", {{"Retry-After", "1"}});
      continue;
    }
    if (c->state != StreamConn::State::kStreaming || !c->admission) continue;
    AccessDecision now = access_->recheck(c->admission->request, c->admission->decision);
    if (!now.allowed()) {
      spdlog::info("stream of {} from {} revoked by reload: {}", c->admission->decision.subject,
                   c->peer, now.reason);
      end_with_notice(*c, "sidecar.revoked", now.reason, CloseReason::kRevoked);
    }
  }
  flush_dirty();
}

void Worker::disconnect(const std::string& subject, const std::string& topic) {
  std::vector<StreamConn*> matching;
  for (auto& [serial, conn] : conns_) {
    StreamConn& c = *conn;
    if (c.state != StreamConn::State::kStreaming || !c.admission) continue;
    if (c.admission->decision.subject != subject) continue;
    bool on_topic =
        topic.empty() || std::any_of(c.topics.begin(), c.topics.end(),
                                     [&](const TopicPattern& p) { return p.matches(topic); });
    if (on_topic) matching.push_back(&c);
  }
  for (StreamConn* c : matching) {
    end_with_notice(*c, "sidecar.revoked", "disconnected by the application",
                    CloseReason::kRevoked);
  }
  flush_dirty();
}

void Worker::arm_heartbeat() {
  timeval tv = to_timeval(config_->stream.heartbeat_interval);
  event_add(heartbeat_.get(), &tv);
}

void Worker::drain() {
  draining_ = true;
  event_del(accept_event_.get());
  event_del(accept_resume_.get());
  std::vector<StreamConn*> all;
  for (auto& [serial, conn] : conns_) all.push_back(conn.get());
  for (StreamConn* c : all) {
    if (c->state == StreamConn::State::kStreaming) {
      // Reconnect hint, spread so the clients of a restarting server do not return at once.
      Millis retry = spread_out(std::max(config_->stream.retry, Millis(500)), 1.0);
      queue_copy(*c, "retry: " + std::to_string(retry.count()) + "\n\n");
      if (c->state != StreamConn::State::kStreaming) continue;
      end_after_flush(*c, CloseReason::kDrain);
    } else if (c->state == StreamConn::State::kReading ||
               c->state == StreamConn::State::kDeciding) {
      refuse(*c, 503, "server is shutting down");
    }
  }
  flush_dirty();
}

void Worker::stop() {
  event_base_loopbreak(base_.get());
}

// ---- accepting ----

void Worker::on_accept(evutil_socket_t, short, void* self) {
  static_cast<Worker*>(self)->accept_ready();
}

void Worker::on_accept_resume(evutil_socket_t, short, void* self) {
  auto* w = static_cast<Worker*>(self);
  if (!w->draining_) event_add(w->accept_event_.get(), nullptr);
}

void Worker::accept_ready() {
  for (int i = 0; i < kAcceptsPerWake; ++i) {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    int fd =
        accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      open_conn(fd, addr);
      continue;
    }
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      spdlog::warn("accept paused for 100ms: {}", std::strerror(errno));
      event_del(accept_event_.get());
      event_add(accept_resume_.get(), &kAcceptPause);
    }
    break;  // EAGAIN (another worker took it), or a transient per-connection error
  }
  flush_dirty();
}

void Worker::open_conn(int fd, const sockaddr_storage& addr) {
  auto conn = std::make_unique<StreamConn>();
  StreamConn& c = *conn;
  c.serial = next_serial_++;
  c.worker = this;
  c.fd = UniqueFd(fd);
  c.peer = peer_name(addr);
  // Events are small and latency matters more than packet count: no Nagle delay.
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  c.out.reset(evbuffer_new());
  c.read_event.reset(event_new(base_.get(), fd, EV_READ | EV_PERSIST, &on_read, &c));
  c.write_event.reset(event_new(base_.get(), fd, EV_WRITE, &on_write, &c));
  c.deadline.reset(evtimer_new(base_.get(), &on_deadline, &c));
  conns_.emplace(c.serial, std::move(conn));
  live_.fetch_add(1, std::memory_order_relaxed);
  metrics_.connections_total.fetch_add(1, std::memory_order_relaxed);
  auto open = metrics_.connections_open.fetch_add(1, std::memory_order_relaxed) + 1;
  if (draining_) return refuse(c, 503, "server is shutting down");
  if (open > config_->limits.max_connections) {
    return refuse(
        c, 503,
        "too many connections (limit " + std::to_string(config_->limits.max_connections) + ")");
  }
  int retry_after = 0;
  switch (limits_.admit_ip(c.peer, retry_after)) {
    case ConnectionLimits::Verdict::kOk:
      c.ip_counted = true;
      break;
    case ConnectionLimits::Verdict::kTooFastForIp:
      metrics_.limited_ip_rate.fetch_add(1, std::memory_order_relaxed);
      return refuse(c, 429, "too many new connections from this address",
                    {{"Retry-After", std::to_string(retry_after)}});
    default:
      metrics_.limited_ip_connections.fetch_add(1, std::memory_order_relaxed);
      return refuse(c, 429, "too many open connections from this address",
                    {{"Retry-After", std::to_string(retry_after)}});
  }
  event_add(c.read_event.get(), nullptr);
  timeval tv = to_timeval(config_->limits.request_timeout);
  event_add(c.deadline.get(), &tv);
}

// ---- reading requests ----

void Worker::on_read(evutil_socket_t, short, void* arg) {
  auto& c = *static_cast<StreamConn*>(arg);
  Worker& w = *c.worker;
  if (c.state == StreamConn::State::kReading)
    w.read_request(c);
  else
    w.discard_input(c);
  w.flush_dirty();
}

void Worker::on_deadline(evutil_socket_t, short, void* arg) {
  auto& c = *static_cast<StreamConn*>(arg);
  Worker& w = *c.worker;
  if (c.state != StreamConn::State::kReading) return;
  w.refuse(c, 408, "request headers not received in time", {}, CloseReason::kTimeout);
  w.flush_dirty();
}

void Worker::read_request(StreamConn& c) {
  const std::size_t max = config_->limits.max_request_header_bytes;
  char buf[4096];
  while (true) {
    ssize_t n = ::recv(c.fd.get(), buf, sizeof(buf), 0);
    if (n == 0) return close(c, CloseReason::kClient);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      return close(c, CloseReason::kClient);
    }
    c.in.append(buf, static_cast<std::size_t>(n));
    if (c.in.size() > max + 4) break;  // enough to decide it is too large
  }
  auto request = std::make_unique<HttpRequest>();
  std::string error;
  std::size_t consumed = 0;
  switch (parse_http_request(c.in, max, *request, error, consumed)) {
    case HttpParse::kIncomplete:
      return;
    case HttpParse::kTooLarge:
      return refuse(c, 431, error);
    case HttpParse::kMalformed:
      return refuse(c, 400, error);
    case HttpParse::kDone:
      break;
  }
  event_del(c.deadline.get());
  c.deadline.reset();
  std::string().swap(c.in);
  c.request = std::move(request);
  c.chunked = c.request->minor_version == 1;
  handle_request(c);
}

void Worker::discard_input(StreamConn& c) {
  // After the request head a stream client has nothing more to say; reading only notices
  // that it went away. Bounded per wakeup so a client that keeps sending cannot hog the loop.
  char buf[4096];
  for (int reads = 0; reads < 16; ++reads) {
    ssize_t n = ::recv(c.fd.get(), buf, sizeof(buf), 0);
    if (n > 0) continue;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    return close(c, CloseReason::kClient);
  }
}

void Worker::handle_request(StreamConn& c) {
  const HttpRequest& req = *c.request;
  std::string_view origin = req.header("origin");
  if (req.path() != "/events") return refuse(c, 404, "not found; streams are at /events");
  if (req.method == "OPTIONS") {
    AccessDecision d = access_->preflight(origin);
    if (!d.allowed()) return refuse(c, d.status, d.reason);
    return refuse(c, 204, "", d.cors_headers, CloseReason::kAnswered);
  }
  if (req.method != "GET")
    return refuse(c, 405, "only GET opens a stream", {{"Allow", "GET, OPTIONS"}});
  if (draining_) return refuse(c, 503, "server is shutting down");

  auto params = std::make_shared<StreamParams>();
  std::string error;
  if (!parse_stream_params(req, *config_, *params, error)) return refuse(c, 400, error);
  c.topics = params->topics;
  c.state = StreamConn::State::kDeciding;
  auto request =
      std::make_shared<AccessRequest>(make_access_request(req, *params, *config_, c.peer));
  std::uint64_t serial = c.serial;
  access_->decide(*request, [this, serial, request,
                             last = params->last_event_id](AccessDecision decision) mutable {
    on_decision(serial, std::move(decision), std::move(*request), last);
    flush_dirty();
  });
}

void Worker::on_decision(std::uint64_t serial, AccessDecision decision, AccessRequest request,
                         const std::string& last_event_id) {
  StreamConn* c = find(serial);
  if (!c || c->state != StreamConn::State::kDeciding) return;  // it left meanwhile
  if (!decision.allowed()) {
    HeaderList headers = decision.cors_headers;
    if (decision.status == 503) headers.emplace_back("Retry-After", "5");
    return refuse(*c, decision.status, decision.reason, headers);
  }
  if (decision.method != AccessMethod::kAnonymous) {
    if (limits_.admit_subject(decision.subject) != ConnectionLimits::Verdict::kOk) {
      metrics_.limited_subject_connections.fetch_add(1, std::memory_order_relaxed);
      HeaderList headers = decision.cors_headers;
      headers.emplace_back("Retry-After", "5");
      return refuse(*c, 429, "too many streams for this subject", headers);
    }
    c->subject_counted = true;
  }
  auto admission = std::make_unique<Admission>();
  admission->request = std::move(request);
  admission->decision = std::move(decision);
  start_stream(*c, std::move(admission), last_event_id);
}

StreamConn* Worker::find(std::uint64_t serial) {
  auto it = conns_.find(serial);
  return it == conns_.end() ? nullptr : it->second.get();
}

// ---- streaming ----

void Worker::start_stream(StreamConn& c, std::unique_ptr<Admission> admission,
                          const std::string& last_event_id) {
  c.request.reset();
  c.state = StreamConn::State::kStreaming;
  c.opened = std::chrono::steady_clock::now();
  if (config_->stream.max_duration.count() > 0) {
    timeval tv = to_timeval(spread_out(config_->stream.max_duration, 0.1));
    c.lifetime.reset(evtimer_new(base_.get(), &on_lifetime, &c));
    event_add(c.lifetime.get(), &tv);
  }
  std::string head = stream_head(c.chunked, admission->decision.cors_headers);
  if (auto expires = admission->decision.expires_at) {
    timeval tv{static_cast<time_t>(std::max<std::int64_t>(0, *expires - unix_seconds())), 0};
    admission->expiry.reset(evtimer_new(base_.get(), &on_expiry, &c));
    event_add(admission->expiry.get(), &tv);
  }
  if (admission->decision.method != AccessMethod::kAnonymous) {
    spdlog::debug("stream opened for {} ({}) from {}", admission->decision.subject,
                  to_string(admission->decision.method), c.peer);
  }
  c.admission = std::move(admission);
  std::string hello = "retry: " + std::to_string(config_->stream.retry.count()) + "\n\n";
  if (c.chunked)
    append_chunk(head, hello);
  else
    head += hello;
  evbuffer_add(c.out.get(), head.data(), head.size());
  c.fed_since_tick = true;
  // Registered before the history query: an event committed meanwhile is found by one of the
  // two, and `last_seq` drops the second copy.
  index_by_topic_.add(&c, c.topics);
  hub_.subscribers().add(c.topics);
  c.subscribed = c.indexed = true;
  // Read after registering: anything newer reaches this worker's queue later and is sent.
  if (last_event_id.empty()) c.last_seq = hub_.engine().newest().seq;
  // Only now: the join event this may publish is newer than last_seq, so the stream receives
  // its own join like everyone else on the presence topic.
  const AccessDecision& who = c.admission->decision;
  if (hub_.presence().enabled() && who.method != AccessMethod::kAnonymous && !who.subject.empty()) {
    c.presence_topics = hub_.presence().join(who.subject, c.topics);
  }
  if (last_event_id.empty()) {
    after_queue(c);
    return;
  }
  std::uint64_t serial = c.serial;
  auto owner = std::this_thread::get_id();
  hub_.engine().replay(c.topics, last_event_id,
                       [this, serial, owner, last_event_id](Replay replay) mutable {
                         if (std::this_thread::get_id() == owner) {
                           apply_replay(serial, replay, last_event_id);
                           return;
                         }
                         auto shared = std::make_shared<Replay>(std::move(replay));
                         post([serial, shared, last_event_id](Worker& w) {
                           w.apply_replay(serial, *shared, last_event_id);
                         });
                       });
}

void Worker::apply_replay(std::uint64_t serial, const Replay& replay,
                          const std::string& last_event_id) {
  StreamConn* c = find(serial);
  if (!c || c->state != StreamConn::State::kStreaming) return;
  if (replay.missed) {
    queue_copy(*c, missed_frame(replay, last_event_id));
    c->last_seq = std::max(c->last_seq, replay.newest.seq);
  } else {
    if (auto id = EventId::parse(last_event_id)) c->last_seq = std::max(c->last_seq, id->seq);
    for (const auto& event : replay.events) {
      if (c->state != StreamConn::State::kStreaming) break;
      queue_event(*c, *event);
    }
  }
  if (c->state == StreamConn::State::kStreaming) after_queue(*c);
}

void Worker::deliver(const EventBatch& batch) {
  for (const auto& event : batch) {
    const Event& e = *event;
    for (const auto& topic : e.topics()) {
      index_by_topic_.for_each(topic, [&](StreamConn* c) {
        // An event on several topics, or already replayed from history, goes out once.
        if (c->state == StreamConn::State::kStreaming && e.id().seq > c->last_seq) {
          queue_event(*c, e);
        }
      });
    }
  }
}

void Worker::queue_event(StreamConn& c, const Event& event) {
  std::string_view bytes = c.chunked ? event.chunked() : event.plain();
  event.retain();
  if (evbuffer_add_reference(c.out.get(), bytes.data(), bytes.size(), &release_event,
                             const_cast<Event*>(&event)) != 0) {
    RefCounted::release(&event);
    return close(c, CloseReason::kError);
  }
  c.last_seq = event.id().seq;
  ++delivered_;
  ++c.events_sent;
  after_queue(c);
}

void Worker::queue_static(StreamConn& c, std::string_view plain, std::string_view chunked) {
  std::string_view bytes = c.chunked ? chunked : plain;
  evbuffer_add_reference(c.out.get(), bytes.data(), bytes.size(), nullptr, nullptr);
  after_queue(c);
}

void Worker::queue_copy(StreamConn& c, std::string_view frame) {
  if (c.chunked) {
    std::string chunk;
    append_chunk(chunk, frame);
    evbuffer_add(c.out.get(), chunk.data(), chunk.size());
  } else {
    evbuffer_add(c.out.get(), frame.data(), frame.size());
  }
  after_queue(c);
}

void Worker::after_queue(StreamConn& c) {
  c.fed_since_tick = true;
  if (!c.dirty) {
    c.dirty = true;
    dirty_.push_back(&c);
  }
  if (evbuffer_get_length(c.out.get()) <= config_->limits.subscriber_buffer_bytes) return;
  // Over the bound: give the socket a chance first (a fast reader drains a burst at once).
  flush(c);
  if (c.state == StreamConn::State::kDead) return;
  if (evbuffer_get_length(c.out.get()) > config_->limits.subscriber_buffer_bytes) {
    metrics_.events_dropped.fetch_add(1, std::memory_order_relaxed);
    spdlog::info("stream from {} disconnected: more than {} bytes unsent (slow consumer)", c.peer,
                 config_->limits.subscriber_buffer_bytes);
    close(c, CloseReason::kSlow);
  }
}

void Worker::refuse(StreamConn& c, int status, std::string_view reason, const HeaderList& headers,
                    CloseReason count_as) {
  std::string response = simple_response(status, reason, headers);
  evbuffer_add(c.out.get(), response.data(), response.size());
  metrics_.count_close(count_as);
  c.close_reason = count_as;
  c.request.reset();
  c.state = StreamConn::State::kClosing;
  if (c.deadline) event_del(c.deadline.get());
  if (!c.dirty) {
    c.dirty = true;
    dirty_.push_back(&c);
  }
}

void Worker::end_after_flush(StreamConn& c, CloseReason count_as) {
  if (c.chunked) {
    evbuffer_add_reference(c.out.get(), kLastChunk.data(), kLastChunk.size(), nullptr, nullptr);
  }
  leave_topics(c);  // a closing stream receives nothing more
  c.state = StreamConn::State::kClosing;
  c.close_reason = count_as;
  metrics_.count_close(count_as);
  if (!c.dirty) {
    c.dirty = true;
    dirty_.push_back(&c);
  }
}

void Worker::on_lifetime(evutil_socket_t, short, void* arg) {
  auto& c = *static_cast<StreamConn*>(arg);
  Worker& w = *c.worker;
  if (c.state != StreamConn::State::kStreaming) return;
  w.end_after_flush(c, CloseReason::kMaxDuration);
  w.flush_dirty();
}

void Worker::on_expiry(evutil_socket_t, short, void* arg) {
  auto& c = *static_cast<StreamConn*>(arg);
  Worker& w = *c.worker;
  if (c.state != StreamConn::State::kStreaming) return;
  w.end_with_notice(c, "sidecar.expired", "credentials expired; reconnect with fresh ones",
                    CloseReason::kExpired);
  w.flush_dirty();
}

// A last event telling the client why its stream ends (no id: its resume position stays at
// the last real event), then the end of the stream.
void Worker::end_with_notice(StreamConn& c, std::string_view name, std::string_view reason,
                             CloseReason count_as) {
  rapidjson::StringBuffer json;
  JsonWriter w(json);
  w.StartObject();
  w.Key("reason");
  write_string(w, reason);
  w.EndObject();
  std::string frame = "event: " + std::string(name) + "\ndata: " + json.GetString() + "\n\n";
  queue_copy(c, frame);
  if (c.state != StreamConn::State::kStreaming) return;  // it overflowed and was closed
  end_after_flush(c, count_as);
}

void Worker::flush_dirty() {
  // Every path that queues (live fan-out, replay, heartbeats) ends here once per turn.
  if (delivered_) {
    metrics_.events_delivered.fetch_add(delivered_, std::memory_order_relaxed);
    delivered_ = 0;
  }
  // flush() may close a connection; closed ones stay allocated until the reap at turn end.
  for (std::size_t i = 0; i < dirty_.size(); ++i) {
    StreamConn* c = dirty_[i];
    c->dirty = false;
    if (c->state != StreamConn::State::kDead) flush(*c);
  }
  dirty_.clear();
}

void Worker::on_write(evutil_socket_t, short, void* arg) {
  auto& c = *static_cast<StreamConn*>(arg);
  c.write_armed = false;
  c.worker->flush(c);
}

void Worker::flush(StreamConn& c) {
  if (c.write_armed) return;  // the socket is full; on_write continues when it drains
  evbuffer* out = c.out.get();
  while (evbuffer_get_length(out) > 0) {
    // One writev of every queued chunk: this is the only syscall per connection per turn.
    int n = evbuffer_write(out, c.fd.get());
    if (n > 0) {
      metrics_.bytes_sent.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
      c.bytes_sent += static_cast<std::uint64_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      c.write_armed = true;
      event_add(c.write_event.get(), nullptr);
      return;
    }
    if (n < 0 && errno == EINTR) continue;
    return close(c, CloseReason::kClient);
  }
  if (c.state == StreamConn::State::kClosing) close(c, CloseReason::kClient);
}

void Worker::close(StreamConn& c, CloseReason reason) {
  if (c.state == StreamConn::State::kDead) return;
  leave_topics(c);
  // A closing connection was counted when its end was decided (refusal, drain).
  if (c.state != StreamConn::State::kClosing) {
    metrics_.count_close(reason);
    c.close_reason = reason;
  }
  if (c.admission && config_->log.access) spdlog::info("{}", access_line(c));
  c.state = StreamConn::State::kDead;
  if (c.ip_counted) limits_.release_ip(c.peer);
  if (c.subject_counted) limits_.release_subject(c.admission->decision.subject);
  c.ip_counted = c.subject_counted = false;
  if (c.admission) c.admission->expiry.reset();
  c.lifetime.reset();
  c.read_event.reset();
  c.write_event.reset();
  c.deadline.reset();
  c.fd.reset();
  c.out.reset();
  metrics_.connections_open.fetch_sub(1, std::memory_order_relaxed);
  live_.fetch_sub(1, std::memory_order_relaxed);
  if (dead_.empty()) event_active(reap_event_.get(), EV_TIMEOUT, 0);
  dead_.push_back(&c);
}

void Worker::leave_topics(StreamConn& c) {
  if (!c.subscribed) return;
  c.subscribed = false;
  hub_.subscribers().remove(c.topics);
  if (!c.presence_topics.empty()) {
    hub_.presence().leave(c.admission->decision.subject, c.presence_topics);
    c.presence_topics.clear();
  }
  // The index entry stays until the reap: this may run inside a fan-out that is iterating the
  // very list the connection sits in. Fan-out skips connections that are not streaming.
}

void Worker::on_reap(evutil_socket_t, short, void* self) {
  auto* w = static_cast<Worker*>(self);
  for (StreamConn* c : w->dead_) {
    if (c->indexed) w->index_by_topic_.remove(c, c->topics);
    w->conns_.erase(c->serial);
  }
  w->dead_.clear();
}

void Worker::on_heartbeat(evutil_socket_t, short, void* self) {
  auto* w = static_cast<Worker*>(self);
  for (auto& [serial, conn] : w->conns_) {
    StreamConn& c = *conn;
    if (c.state != StreamConn::State::kStreaming) continue;
    // Only idle streams need a comment to keep proxies from timing them out.
    if (!c.fed_since_tick) w->queue_static(c, kHeartbeat, kHeartbeatChunk);
    c.fed_since_tick = false;
  }
  w->flush_dirty();
}

}  // namespace sidecar
