#include "sidecar/stream/worker.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <random>

#include "sidecar/core/wall_clock.hpp"
#include "sidecar/sse/sse_format.hpp"
#include "sidecar/sse/sse_notice.hpp"
#include "sidecar/stream/access_log.hpp"
#include "sidecar/stream/h2_response.hpp"
#include "sidecar/stream/http_response.hpp"
#include "sidecar/stream/stream_params.hpp"

namespace sidecar {
namespace {

// Up to `spread` (a fraction) added at random, so that streams opened together (a connect storm
// after a restart) do not all end or reconnect together.
Millis spread_out(Millis base, double spread) {
  thread_local std::minstd_rand random{std::random_device{}()};
  std::uniform_real_distribution<double> extra(0, spread);
  return base + Millis(static_cast<Millis::rep>(static_cast<double>(base.count()) * extra(random)));
}

// A stream whose only topic is exact takes its events of a delivery from one run, in one
// slice; any other may match several runs and takes them event by event, in commit order.
bool single_exact_topic(const StreamConn& c) {
  return c.topics.size() == 1 && !c.topics[0].is_wildcard();
}

// How often a fan-out looks for batches that arrived since it began (a lock, usually nothing),
// and how many passes it makes before it leaves newer batches to the next loop turn, so that a
// publisher that never pauses cannot keep the worker from its timers and sockets.
constexpr std::size_t kStreamsPerAbsorb = 64;
constexpr int kMaxPasses = 4;

// What a batch waiting in a worker's queue holds: its events (frames, topics, the event
// object) and the vector of references. Events are shared with history and the other workers,
// so this is what the batch keeps alive at most, counted per worker.
std::size_t cost_of(const EventBatch& batch) {
  std::size_t cost = sizeof(EventBatch) + batch.capacity() * sizeof(EventRef);
  for (const auto& e : batch) {
    cost += sizeof(Event) + e->chunked().size();
    for (const auto& t : e->topics()) cost += sizeof(std::string) + t.capacity();
  }
  return cost;
}

}  // namespace

Worker::Worker(unsigned index, Hub& hub, PresenceTracker& presence, Metrics& metrics,
               StreamStats& stats, ConnectionLimits& limits, std::shared_ptr<const Config> config,
               int listen_fd, int tls_listen_fd, std::shared_ptr<const TlsContext> tls)
    : index_(index),
      hub_(hub),
      presence_(presence),
      metrics_(metrics),
      stats_(stats),
      limits_(limits),
      config_(std::move(config)),
      listen_fd_(listen_fd),
      base_(event_base_new()),
      tls_(std::move(tls)),
      queue_bound_(config_->limits.worker_queue_bytes) {
  if (!base_) throw std::runtime_error("cannot create worker event loop");
  access_ = make_access_policy(*config_, base_.get());
  wakeup_ = std::make_unique<LoopWakeup>(base_.get(), [this] { run_queue(); });
  acceptor_.emplace(
      base_.get(), listen_fd_,
      [this](UniqueFd fd, std::string peer) { open_conn(std::move(fd), std::move(peer), false); },
      [this] { flush_dirty(); });
  if (tls_listen_fd >= 0 && tls_) {
    tls_acceptor_.emplace(
        base_.get(), tls_listen_fd,
        [this](UniqueFd fd, std::string peer) { open_conn(std::move(fd), std::move(peer), true); },
        [this] { flush_dirty(); });
  }
  heartbeat_.reset(event_new(base_.get(), -1, EV_PERSIST, &on_heartbeat, this));
  reap_event_.reset(event_new(base_.get(), -1, 0, &on_reap, this));
  arm_heartbeat();
}

Worker::~Worker() {
  join();
  // Connections hold events on base_; free them before the base.
  conns_.clear();
  sessions_.clear();
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

// ---- work handed over by other threads ----

void Worker::post_events(std::shared_ptr<const EventBatch> batch) {
  std::size_t cost = cost_of(*batch);
  bool was_empty;
  {
    std::lock_guard lock(queue_mutex_);
    was_empty = queue_.empty();
    if (queue_bytes_ + cost > queue_bound_.load(std::memory_order_relaxed) && !queue_.empty()) {
      // Starved of CPU while events keep coming: what is left out becomes one gap. An empty
      // queue always takes the batch, so one larger than the bound still goes through.
      if (!std::holds_alternative<Gap>(queue_.back())) {
        queue_.emplace_back(Gap{});
        metrics_.worker_queue_overflows.fetch_add(1, std::memory_order_relaxed);
      }
      return;
    }
    queue_bytes_ += cost;
    queue_.emplace_back(Queued{std::move(batch), cost});
  }
  if (was_empty) wakeup_->notify();
}

std::size_t Worker::queued_bytes() const {
  std::lock_guard lock(queue_mutex_);
  return queue_bytes_;
}

void Worker::post_missed(std::vector<std::string> topics, EventId newest) {
  post([topics = std::move(topics), newest](Worker& w) { w.tell_missed(topics, newest); });
}

void Worker::tell_missed(const std::vector<std::string>& topics, EventId newest) {
  std::vector<StreamConn*> told;
  for (auto& [serial, conn] : conns_) {
    StreamConn& c = *conn;
    if (c.state != StreamConn::State::kStreaming) continue;
    bool on_topic = topics.empty() || std::any_of(topics.begin(), topics.end(), [&](const auto& t) {
                      return std::any_of(c.topics.begin(), c.topics.end(),
                                         [&](const TopicPattern& p) { return p.matches(t); });
                    });
    if (on_topic) told.push_back(&c);
  }
  for (StreamConn* c : told) {
    queue_copy(*c, sse_missed_frame(newest.to_string(), ""));
    // Every topic: the ids start again under a new epoch (from `newest` on), even should its
    // sequence be behind what the stream had.
    c->last_seq = topics.empty() ? newest.seq : std::max(c->last_seq, newest.seq);
  }
  flush_dirty();
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
    queue_bytes_ = 0;
  }
  // Batches that arrived together are delivered together: one write per stream for all of
  // them. A task between batches runs in its place (it may be a replay that must come first).
  std::vector<Batch> batches;
  // Newer batches may join a delivery only when nothing of `items` comes after it: they were
  // queued after everything here, so a task or a gap in between must come first.
  auto deliver_batches = [&](bool last) {
    if (batches.empty()) return;
    DeliveryPlan plan(batches);
    deliver(plan, last);
    batches.clear();
  };
  for (auto& item : items) {
    if (auto* queued = std::get_if<Queued>(&item)) {
      batches.push_back(std::move(queued->batch));
    } else if (auto* task = std::get_if<Task>(&item)) {
      deliver_batches(false);
      (*task)(*this);
    } else {
      deliver_batches(false);
      fell_behind();
    }
  }
  deliver_batches(true);
  flush_dirty();
}

void Worker::fell_behind() {
  std::size_t ended = 0;
  std::vector<StreamConn*> all;
  for (auto& [serial, conn] : conns_) all.push_back(conn.get());
  for (StreamConn* c : all) {
    if (c->state != StreamConn::State::kStreaming) continue;
    // Soon, but not all at once: their reconnects spread over a few seconds.
    queue_copy(*c, sse_retry_frame(spread_out(Millis(1000), 2.0)));
    if (c->state != StreamConn::State::kStreaming) continue;
    end_after_flush(*c, CloseReason::kBehind);
    ++ended;
  }
  spdlog::warn(
      "stream worker {} fell more than limits.worker_queue_bytes ({} bytes) behind; ended its "
      "{} stream(s) so that they resume from history",
      index_, queue_bound_.load(std::memory_order_relaxed), ended);
  flush_dirty();
}

void Worker::reconfigure(std::shared_ptr<const Config> config) {
  bool heartbeat_changed = config->stream.heartbeat_interval != config_->stream.heartbeat_interval;
  config_ = std::move(config);
  queue_bound_.store(config_->limits.worker_queue_bytes, std::memory_order_relaxed);
  access_ = make_access_policy(*config_, base_.get());
  if (heartbeat_changed) arm_heartbeat();
  // Every open stream is examined again under the new policy: one whose token was removed,
  // whose origin is no longer allowed or whose topics are no longer granted ends now.
  std::vector<StreamConn*> all;
  for (auto& [serial, conn] : conns_) all.push_back(conn.get());
  for (StreamConn* c : all) {
    if (c->state == StreamConn::State::kDeciding) {
      // Its pending decision belonged to the replaced policy.
      refuse(*c, Answer{503, "configuration reloaded; retry", {{"Retry-After", "1"}}});
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

void Worker::set_tls_context(std::shared_ptr<const TlsContext> tls) {
  tls_ = std::move(tls);
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

void Worker::drain() {
  draining_ = true;
  acceptor_->stop();
  if (tls_acceptor_) tls_acceptor_->stop();
  std::vector<StreamConn*> all;
  for (auto& [serial, conn] : conns_) all.push_back(conn.get());
  for (StreamConn* c : all) {
    if (c->state == StreamConn::State::kStreaming) {
      // Reconnect hint, spread so the clients of a restarting server do not return at once.
      queue_copy(*c,
                 sse_retry_frame(spread_out(std::max(config_->stream.retry, Millis(500)), 1.0)));
      if (c->state != StreamConn::State::kStreaming) continue;
      end_after_flush(*c, CloseReason::kDrain);
    } else if (c->state == StreamConn::State::kReading ||
               c->state == StreamConn::State::kDeciding) {
      refuse(*c, Answer{503, "server is shutting down"});
    } else if (c->state == StreamConn::State::kHandshake) {
      close(*c, CloseReason::kDrain);  // nothing it could read yet
    }
  }
  // HTTP/2: GOAWAY once its streams (ending above) are flushed, then each connection closes.
  for (auto& [serial, session] : sessions_) {
    if (session->dead) continue;
    session->going_away = true;
    mark_session_dirty(*session);
  }
  flush_dirty();
}

StreamListing Worker::list_streams(const StreamFilter& filter) const {
  StreamListing out;
  const auto now = std::chrono::steady_clock::now();
  std::vector<const StreamConn*> matching;
  for (const auto& [serial, conn] : conns_) {
    const StreamConn& c = *conn;
    if (c.state != StreamConn::State::kStreaming || !c.admission) continue;
    const AccessDecision& who = c.admission->decision;
    const bool anonymous = who.method == AccessMethod::kAnonymous;
    if (!filter.matches(c.topics, anonymous ? std::string() : who.subject, c.peer)) continue;
    matching.push_back(&c);
  }
  out.total = matching.size();
  // The oldest first (opened earliest, then the lower serial): only `limit` are described.
  auto older = [](const StreamConn* a, const StreamConn* b) {
    return a->opened != b->opened ? a->opened < b->opened : a->serial < b->serial;
  };
  const std::size_t shown = std::min(filter.limit, matching.size());
  std::partial_sort(matching.begin(), matching.begin() + static_cast<std::ptrdiff_t>(shown),
                    matching.end(), older);
  for (std::size_t i = 0; i < shown; ++i) {
    const StreamConn& c = *matching[i];
    const AccessDecision& who = c.admission->decision;
    StreamSummary s;
    s.worker = index_;
    s.serial = c.serial;
    s.peer = c.peer;
    if (who.method != AccessMethod::kAnonymous) s.subject = who.subject;
    s.auth = std::string(to_string(who.method));
    for (const auto& p : c.topics) s.topics.push_back(p.text());
    s.protocol = c.protocol();
    s.age_ms = static_cast<std::uint64_t>(
        std::max<std::int64_t>(0, std::chrono::duration_cast<Millis>(now - c.opened).count()));
    s.events_sent = c.events_sent;
    s.bytes_sent = c.bytes_sent;
    s.buffered_bytes = c.out.bytes();
    out.streams.push_back(std::move(s));
  }
  return out;
}

void Worker::stop() {
  event_base_loopbreak(base_.get());
}

// ---- a connection, from accept to stream ----

void Worker::open_conn(UniqueFd fd, std::string peer, bool tls) {
  auto conn = std::make_unique<StreamConn>();
  StreamConn& c = *conn;
  c.serial = next_serial_++;
  c.worker = this;
  c.fd = std::move(fd);
  c.peer = std::move(peer);
  if (tls) {
    c.tls = TlsSession::create(*tls_, c.fd.get());
    if (!c.tls) {
      spdlog::warn("cannot start TLS for {}: out of memory", c.peer);
      return;  // the socket closes with `conn`
    }
    c.state = StreamConn::State::kHandshake;
    stats_.tls_open.add();
  }
  c.read_event.reset(event_new(base_.get(), c.fd.get(), EV_READ | EV_PERSIST, &on_read, &c));
  c.write_event.reset(event_new(base_.get(), c.fd.get(), EV_WRITE, &on_write, &c));
  c.deadline.reset(evtimer_new(base_.get(), &on_deadline, &c));
  conns_.emplace(c.serial, std::move(conn));
  live_.fetch_add(1, std::memory_order_relaxed);
  stats_.connections_total.add();
  metrics_.connections_open.fetch_add(1, std::memory_order_relaxed);
  // One deadline from accept to the whole request head, the TLS handshake included: a client
  // that connects and says nothing costs the same on both listeners.
  timeval tv = to_timeval(config_->limits.request_timeout);
  event_add(c.deadline.get(), &tv);
  event_add(c.read_event.get(), nullptr);
  // A TLS connection is admitted once its handshake is done: a refusal is an HTTP answer,
  // which needs the TLS session to be sent.
  if (c.tls) return continue_handshake(c);
  admit(c);
}

void Worker::admit(StreamConn& c) {
  auto open = metrics_.connections_open.load(std::memory_order_relaxed);
  if (auto refusal = admit_connection(open, c.peer, limits_, stats_, draining_)) {
    return refuse(c, *refusal);
  }
  c.ip_counted = true;
}

void Worker::continue_handshake(StreamConn& c) {
  switch (c.tls->handshake()) {
    case TlsSession::Status::kDone:
      break;
    case TlsSession::Status::kWantRead:
      return;  // the read event is armed all along
    case TlsSession::Status::kWantWrite:
      if (!c.write_armed) {
        c.write_armed = true;
        event_add(c.write_event.get(), nullptr);
      }
      return;
    case TlsSession::Status::kClosed:
    case TlsSession::Status::kFailed: {
      TlsHandshakeResult why = c.tls->failure();
      stats_.count_handshake(why);
      spdlog::debug("TLS handshake with {} failed: {}", c.peer, to_string(why));
      return close(
          c, why == TlsHandshakeResult::kClosed ? CloseReason::kClient : CloseReason::kRefused);
    }
  }
  stats_.count_handshake(TlsHandshakeResult::kOk);
  if (c.tls->alpn() == "h2") return start_h2(c);
  c.state = StreamConn::State::kReading;
  admit(c);
  if (c.state != StreamConn::State::kReading) return;  // refused: the answer is queued
  // The request may have come with the handshake's last flight; OpenSSL holds it already.
  read_request(c);
}

void Worker::on_read(evutil_socket_t, short, void* arg) {
  auto& c = *static_cast<StreamConn*>(arg);
  Worker& w = *c.worker;
  if (c.state == StreamConn::State::kHandshake) {
    w.continue_handshake(c);
  } else if (c.state == StreamConn::State::kReading) {
    w.read_request(c);
  } else if (c.discard_input() == StreamConn::Io::kGone) {
    w.close(c, CloseReason::kClient);
  }
  w.flush_dirty();
}

void Worker::on_deadline(evutil_socket_t, short, void* arg) {
  auto& c = *static_cast<StreamConn*>(arg);
  Worker& w = *c.worker;
  if (c.state == StreamConn::State::kHandshake) {
    w.stats_.count_handshake(TlsHandshakeResult::kTimeout);
    w.close(c, CloseReason::kTimeout);  // no TLS session to answer through
    w.flush_dirty();
    return;
  }
  if (c.state != StreamConn::State::kReading) return;
  w.refuse(c, Answer{408, "request headers not received in time", {}, CloseReason::kTimeout});
  w.flush_dirty();
}

void Worker::read_request(StreamConn& c) {
  const std::size_t max = config_->limits.max_request_header_bytes;
  if (c.read_head(max + 4) == StreamConn::Io::kGone) return close(c, CloseReason::kClient);
  // HTTP/2 with prior knowledge (h2c) on the plain listener: a proxy that speaks HTTP/2
  // upstream opens with the client preface, which no HTTP/1 request line begins with.
  if (!c.tls && !c.in.empty() && c.in.front() == 'P') {
    std::string_view in = c.in;
    if (in.size() < kH2Preface.size() && kH2Preface.starts_with(in)) return;  // the rest comes
    if (in.starts_with(kH2Preface)) return start_h2(c);
  }
  auto request = std::make_unique<HttpRequest>();
  std::string error;
  std::size_t consumed = 0;
  switch (parse_http_request(c.in, max, *request, error, consumed)) {
    case HttpParse::kIncomplete:
      return;
    case HttpParse::kTooLarge:
      return refuse(c, Answer{431, error});
    case HttpParse::kMalformed:
      return refuse(c, Answer{400, error});
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

void Worker::handle_request(StreamConn& c) {
  auto routed = route_request(*c.request, *config_, *access_, draining_);
  if (const auto* answer = std::get_if<Answer>(&routed)) return refuse(c, *answer);
  if (const auto* served = std::get_if<Served>(&routed)) return serve(c, *served);
  const auto& params = std::get<StreamParams>(routed);
  c.topics = params.topics;
  c.state = StreamConn::State::kDeciding;
  auto request =
      std::make_shared<AccessRequest>(make_access_request(*c.request, params, *config_, c.peer));
  std::uint64_t serial = c.serial;
  access_->decide(*request, [this, serial, request, last = params.last_event_id,
                             latest = params.latest](AccessDecision decision) mutable {
    on_decision(serial, std::move(decision), std::move(*request), last, latest);
    flush_dirty();
  });
}

void Worker::on_decision(std::uint64_t serial, AccessDecision decision, AccessRequest request,
                         const std::string& last_event_id, std::size_t latest) {
  StreamConn* c = find(serial);
  if (!c || c->state != StreamConn::State::kDeciding) return;  // it left meanwhile
  if (auto refusal = admit_stream(decision, limits_, stats_)) return refuse(*c, *refusal);
  c->subject_counted = decision.method != AccessMethod::kAnonymous;
  auto admission = std::make_unique<Admission>();
  admission->request = std::move(request);
  admission->decision = std::move(decision);
  start_stream(*c, std::move(admission), last_event_id, latest);
}

StreamConn* Worker::find(std::uint64_t serial) {
  auto it = conns_.find(serial);
  return it == conns_.end() ? nullptr : it->second.get();
}

void Worker::start_stream(StreamConn& c, std::unique_ptr<Admission> admission,
                          const std::string& last_event_id, std::size_t latest) {
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
    // To the millisecond: a whole-second countdown would let it run up to a second past.
    auto left_ms = *expires * 1000 - static_cast<std::int64_t>(unix_ms());
    timeval tv = to_timeval(Millis(std::max<std::int64_t>(0, left_ms)));
    admission->expiry.reset(evtimer_new(base_.get(), &on_expiry, &c));
    event_add(admission->expiry.get(), &tv);
  }
  if (admission->decision.method != AccessMethod::kAnonymous) {
    spdlog::debug("stream opened for {} ({}) from {}", admission->decision.subject,
                  to_string(admission->decision.method), c.peer);
  }
  c.admission = std::move(admission);
  std::string hello = sse_retry_frame(config_->stream.retry);
  if (c.h2) {
    respond_h2(c, head, true);
    c.out.append_copy(hello);
    stats_.buffered_bytes.add(hello.size());
  } else {
    if (c.chunked) {
      append_chunk(head, hello);
    } else {
      head += hello;
    }
    c.out.append_copy(head);
    stats_.buffered_bytes.add(head.size());
  }
  c.open_counted = true;
  stats_.streams_open[static_cast<std::size_t>(c.protocol_kind())].add();
  c.idle_ticks = 0;
  mark_dirty(c);
  // Registered before the history query: an event committed meanwhile is found by one of the
  // two, and `last_seq` drops the second copy.
  index_by_topic_.add(&c, c.topics, c.index_slots);
  hub_.subscribers().add(c.topics);
  c.subscribed = c.indexed = true;
  // Read after registering: anything newer reaches this worker's queue later and is sent.
  EventId live_from = hub_.engine().newest();
  if (last_event_id.empty()) c.last_seq = live_from.seq;
  // Only now: the join event this may publish is newer than last_seq, so the stream receives
  // its own join like everyone else on the presence topic.
  const AccessDecision& who = c.admission->decision;
  if (presence_.enabled() && who.method != AccessMethod::kAnonymous && !who.subject.empty()) {
    c.presence_topics = presence_.join(who.subject, c.topics);
  }
  if (last_event_id.empty() && latest == 0) return;
  // Live events wait (held) behind what history gives first.
  c.replaying = true;
  std::uint64_t serial = c.serial;
  auto owner = std::this_thread::get_id();
  auto apply = [this, serial, owner, last_event_id](Replay replay) mutable {
    if (std::this_thread::get_id() == owner) {
      apply_replay(serial, replay, last_event_id);
      return;
    }
    auto shared = std::make_shared<Replay>(std::move(replay));
    post([serial, shared, last_event_id](Worker& w) {
      w.apply_replay(serial, *shared, last_event_id);
    });
  };
  if (!last_event_id.empty()) return hub_.engine().replay(c.topics, last_event_id, apply);
  // The newest events up to where live ones start (last_seq), so none comes twice.
  hub_.engine().latest(c.topics, latest, live_from, apply);
}

void Worker::apply_replay(std::uint64_t serial, const Replay& replay,
                          const std::string& last_event_id) {
  StreamConn* c = find(serial);
  if (!c || c->state != StreamConn::State::kStreaming) return;
  c->replaying = false;
  std::vector<EventRef> held;
  if (auto it = held_.find(serial); it != held_.end()) {
    held.swap(it->second.events);
    held_.erase(it);
  }
  if (replay.missed) {
    queue_copy(*c, sse_missed_frame(replay.newest.to_string(), last_event_id));
    c->last_seq = std::max(c->last_seq, replay.newest.seq);
  } else if (last_event_id.empty()) {
    // The latest events: all up to last_seq, where the stream's live events begin.
    std::uint64_t live_from = c->last_seq;
    for (const auto& event : replay.events) {
      if (c->state != StreamConn::State::kStreaming) return;
      if (event->id().seq <= live_from) queue_event(*c, *event);
    }
    c->last_seq = live_from;
  } else {
    if (auto id = EventId::parse(last_event_id)) c->last_seq = std::max(c->last_seq, id->seq);
    for (const auto& event : replay.events) {
      if (c->state != StreamConn::State::kStreaming) return;
      if (event->id().seq > c->last_seq) queue_event(*c, *event);
    }
  }
  // Then what arrived live meanwhile, past what the replay held.
  for (const auto& event : held) {
    if (c->state != StreamConn::State::kStreaming) return;
    if (event->id().seq > c->last_seq) queue_event(*c, *event);
  }
}

// ---- how a stream ends ----

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

void Worker::end_with_notice(StreamConn& c, std::string_view name, std::string_view reason,
                             CloseReason count_as) {
  queue_copy(c, sse_notice_frame(name, reason));
  if (c.state != StreamConn::State::kStreaming) return;  // it overflowed and was closed
  end_after_flush(c, count_as);
}

void Worker::refuse(StreamConn& c, const Answer& answer) {
  answer_and_close(c, simple_response(answer.status, answer.reason, answer.headers), {},
                   answer.count_as);
}

void Worker::serve(StreamConn& c, const Served& served) {
  answer_and_close(c, served.head, served.body, CloseReason::kAnswered);
}

void Worker::answer_and_close(StreamConn& c, std::string_view head, std::string_view body,
                              CloseReason count_as) {
  if (c.h2) {
    respond_h2(c, head, !body.empty());
  } else {
    c.out.append_copy(head);
    stats_.buffered_bytes.add(head.size());
  }
  // `body` lives as long as the process (embedded in the binary): nothing to copy.
  if (!body.empty()) c.out.append_static(body);
  stats_.buffered_bytes.add(body.size());
  stats_.count_close(count_as);
  c.close_reason = count_as;
  c.request.reset();
  c.state = StreamConn::State::kClosing;
  if (c.deadline) event_del(c.deadline.get());
  mark_dirty(c);
}

void Worker::end_after_flush(StreamConn& c, CloseReason count_as) {
  if (c.chunked) {
    c.out.append_static(kLastChunk);
    stats_.buffered_bytes.add(kLastChunk.size());
  }
  leave_topics(c);  // a closing stream receives nothing more
  c.state = StreamConn::State::kClosing;
  c.close_reason = count_as;
  stats_.count_close(count_as);
  mark_dirty(c);
}

void Worker::close(StreamConn& c, CloseReason reason) {
  if (c.state == StreamConn::State::kDead) return;
  leave_topics(c);
  // A closing connection was counted when its end was decided (refusal, drain).
  if (c.state != StreamConn::State::kClosing) {
    stats_.count_close(reason);
    c.close_reason = reason;
  }
  if (c.admission && config_->log.access) {
    auto duration = std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - c.opened);
    spdlog::info("{}", access_line(AccessLogEntry{c.peer, &c.admission->decision, &c.topics,
                                                  duration, c.events_sent, c.bytes_sent,
                                                  c.close_reason, c.protocol()}));
  }
  c.state = StreamConn::State::kDead;
  if (c.ip_counted) limits_.release_ip(c.peer);
  if (c.subject_counted) limits_.release_subject(c.admission->decision.subject);
  c.ip_counted = c.subject_counted = false;
  if (c.admission) c.admission->expiry.reset();
  c.lifetime.reset();
  if (c.open_counted) {
    c.open_counted = false;
    stats_.streams_open[static_cast<std::size_t>(c.protocol_kind())].sub();
  }
  stats_.buffered_bytes.sub(c.out.bytes());
  c.out.clear();
  held_.erase(c.serial);
  schedule_reap();
  dead_.push_back(&c);
  if (c.h2) return detach_h2(c);  // the socket is its session's
  c.read_event.reset();
  c.write_event.reset();
  c.deadline.reset();
  if (reason == CloseReason::kSlow) {
    // A reset, not a FIN: its send buffer is full of bytes it is not reading, which a graceful
    // close would leave the kernel holding for minutes (tcp_orphan_retries) after we let go.
    linger abort{1, 0};
    setsockopt(c.fd.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof(abort));
  } else if (c.tls) {
    c.tls->shutdown();  // close_notify: the client can tell the end from a cut
  }
  if (c.tls) {
    c.tls.reset();
    stats_.tls_open.sub();
  }
  c.fd.reset();
  metrics_.connections_open.fetch_sub(1, std::memory_order_relaxed);
  live_.fetch_sub(1, std::memory_order_relaxed);
}

void Worker::schedule_reap() {
  if (dead_.empty() && dead_sessions_.empty()) event_active(reap_event_.get(), EV_TIMEOUT, 0);
}

void Worker::leave_topics(StreamConn& c) {
  if (!c.subscribed) return;
  c.subscribed = false;
  hub_.subscribers().remove(c.topics);
  if (!c.presence_topics.empty()) {
    presence_.leave(c.admission->decision.subject, c.presence_topics);
    c.presence_topics.clear();
  }
  // The index entry stays until the reap: this may run inside a fan-out that is iterating the
  // very list the connection sits in. Fan-out skips connections that are not streaming.
}

void Worker::on_reap(evutil_socket_t, short, void* self) {
  auto* w = static_cast<Worker*>(self);
  for (StreamConn* c : w->dead_) {
    if (c->indexed) w->index_by_topic_.remove(c->topics, c->index_slots);
    w->conns_.erase(c->serial);
  }
  w->dead_.clear();
  // After their streams, which point at them.
  for (H2Session* s : w->dead_sessions_) w->sessions_.erase(s->serial);
  w->dead_sessions_.clear();
}

// ---- fan-out ----

void Worker::deliver(DeliveryPlan& plan, bool may_absorb) {
  // A pass over the streams takes a while at ten thousand of them (a write each). Batches that
  // arrive meanwhile join the plan, so the streams not yet served take them in the same write;
  // another pass then brings them to the streams served before they came.
  for (int pass = 1;; ++pass) {
    ++deliveries_;
    bool grew = false;
    std::size_t served = 0;
    for (std::size_t run = 0; run < plan.runs(); ++run) {
      const std::string topic = plan.topic(run);  // the plan may grow (and move) meanwhile
      index_by_topic_.for_each(topic, [&](StreamConn* c) {
        // A stream found through several runs (topics or patterns) is served on the first.
        if (c->state != StreamConn::State::kStreaming || c->delivery == deliveries_) return;
        c->delivery = deliveries_;
        deliver_to(*c, plan, run);
        if (may_absorb && ++served % kStreamsPerAbsorb == 0 && pass < kMaxPasses) {
          grew |= absorb(plan);
        }
      });
    }
    if (!grew) return;
  }
}

bool Worker::absorb(DeliveryPlan& plan) {
  std::vector<Batch> arrived;
  {
    std::lock_guard lock(queue_mutex_);
    // Only batches at the front: a task (or gap) queued before a batch comes before it.
    auto first_task = std::find_if(queue_.begin(), queue_.end(), [](const Item& item) {
      return !std::holds_alternative<Queued>(item);
    });
    for (auto it = queue_.begin(); it != first_task; ++it) {
      auto& queued = std::get<Queued>(*it);
      queue_bytes_ -= queued.cost;
      arrived.push_back(std::move(queued.batch));
    }
    queue_.erase(queue_.begin(), first_task);
  }
  for (auto& batch : arrived) plan.extend(std::move(batch));
  return !arrived.empty();
}

void Worker::hold(StreamConn& c, DeliveryPlan& plan) {
  for (const auto& entry : plan.events()) {
    const Event& e = *entry.event;
    bool wanted = std::any_of(e.topics().begin(), e.topics().end(), [&](const std::string& t) {
      return std::any_of(c.topics.begin(), c.topics.end(),
                         [&](const TopicPattern& p) { return p.matches(t); });
    });
    if (!wanted) continue;
    Held& h = held_[c.serial];
    h.events.emplace_back(&e);
    h.bytes += e.size() + sizeof(EventRef);
    if (h.bytes > config_->limits.subscriber_buffer_bytes) break;
  }
  auto it = held_.find(c.serial);
  if (it != held_.end() && it->second.bytes > config_->limits.subscriber_buffer_bytes) {
    // Everything it was going to get: what it holds, and what it had queued.
    stats_.events_dropped.add(it->second.events.size() + c.out.events());
    spdlog::info("stream from {} disconnected: more than {} bytes waiting for its replay", c.peer,
                 config_->limits.subscriber_buffer_bytes);
    close(c, CloseReason::kSlow);
  }
}

void Worker::deliver_to(StreamConn& c, DeliveryPlan& plan, std::size_t run) {
  if (c.replaying) return hold(c, plan);
  // `last_seq` skips what the stream already has: events replayed from history, and an event
  // on several of its topics (it goes out once).
  const std::size_t bound = config_->limits.subscriber_buffer_bytes;
  if (single_exact_topic(c)) {
    // As much as fits in the bound at a time, written at once: a fast reader takes a delivery
    // larger than its bound through the socket, a stalled one is dropped one event past it.
    while (c.state == StreamConn::State::kStreaming) {
      std::size_t room = bound > c.out.cost() ? bound - c.out.cost() : 0;
      DeliveryPlan::Slice slice = plan.tail(run, c.chunked, c.last_seq, room);
      if (!slice.segment) break;
      queue_slice(c, slice);
      flush(c);
      check_bound(c);
    }
    return;
  }
  for (const auto& entry : plan.events()) {
    if (c.state != StreamConn::State::kStreaming) return;
    if (entry.event->id().seq <= c.last_seq) continue;
    const auto& topics = entry.event->topics();
    for (std::size_t i = 0; i < topics.size(); ++i) {
      bool wanted = std::any_of(c.topics.begin(), c.topics.end(),
                                [&](const TopicPattern& p) { return p.matches(topics[i]); });
      if (!wanted) continue;
      const DeliveryPlan::Place& place = entry.places[i];
      queue_slice(c, plan.one(place.run, place.pos, c.chunked));
      check_bound(c);
      break;
    }
  }
  // Written now, not at the end of the fan-out: this stream's bytes are on their way while the
  // next streams are being queued.
  flush(c);
}

// ---- output ----

void Worker::queue_slice(StreamConn& c, const DeliveryPlan::Slice& slice) {
  if (!slice.segment) return;
  c.out.append(*slice.segment, slice.bytes, static_cast<std::uint32_t>(slice.events));
  stats_.buffered_bytes.add(slice.bytes.size());
  stats_.events_delivered.add(slice.events);
  c.last_seq = slice.last_seq;
  c.events_sent += slice.events;
  c.idle_ticks = 0;
}

void Worker::queue_event(StreamConn& c, const Event& event) {
  SegmentHold segment(FrameSegment::sharing(event, c.chunked));
  c.out.append(*segment.get(), segment.get()->bytes(), 1);
  stats_.buffered_bytes.add(segment.get()->bytes().size());
  stats_.events_delivered.add();
  c.last_seq = event.id().seq;
  ++c.events_sent;
  c.idle_ticks = 0;
  mark_dirty(c);
  check_bound(c);
}

void Worker::queue_copy(StreamConn& c, std::string_view frame) {
  if (c.chunked) {
    std::string chunk;
    append_chunk(chunk, frame);
    c.out.append_copy(chunk);
    stats_.buffered_bytes.add(chunk.size());
  } else {
    c.out.append_copy(frame);
    stats_.buffered_bytes.add(frame.size());
  }
  c.idle_ticks = 0;
  mark_dirty(c);
  check_bound(c);
}

void Worker::queue_static(StreamConn& c, std::string_view plain, std::string_view chunked) {
  std::string_view bytes = c.chunked ? chunked : plain;
  c.out.append_static(bytes);
  stats_.buffered_bytes.add(bytes.size());
  c.idle_ticks = 0;
  mark_dirty(c);
  check_bound(c);
}

void Worker::mark_dirty(StreamConn& c) {
  if (c.dirty) return;
  c.dirty = true;
  dirty_.push_back(&c);
}

void Worker::check_bound(StreamConn& c) {
  const std::size_t bound = config_->limits.subscriber_buffer_bytes;
  if (c.state != StreamConn::State::kStreaming || c.out.cost() <= bound) return;
  if (c.h2) return check_h2_bound(c);
  flush(c);
  if (c.state != StreamConn::State::kStreaming || c.out.cost() <= bound) return;
  stats_.events_dropped.add(c.out.events());  // the one that overflowed is among them
  spdlog::info("stream from {} disconnected: more than {} bytes unsent (slow consumer)", c.peer,
               bound);
  close(c, CloseReason::kSlow);
}

void Worker::flush_dirty() {
  // Every path that queues (replay, notices, heartbeats) ends here once per turn. flush() may
  // close a connection; closed ones stay allocated until the reap at turn end.
  for (std::size_t i = 0; i < dirty_.size(); ++i) {
    StreamConn* c = dirty_[i];
    c->dirty = false;
    flush(*c);
  }
  dirty_.clear();
  // HTTP/2 streams only marked their sessions: one write each, every stream's frames in it.
  for (std::size_t i = 0; i < dirty_sessions_.size(); ++i) {
    H2Session* s = dirty_sessions_[i];
    s->dirty = false;
    send_h2(*s);
  }
  dirty_sessions_.clear();
}

void Worker::on_write(evutil_socket_t, short, void* arg) {
  auto& c = *static_cast<StreamConn*>(arg);
  c.write_armed = false;
  if (c.state == StreamConn::State::kHandshake) {
    c.worker->continue_handshake(c);
    c.worker->flush_dirty();
    return;
  }
  c.worker->flush(c);
}

void Worker::flush(StreamConn& c) {
  if (c.state == StreamConn::State::kDead) return;
  if (c.h2) {
    // Its DATA resumes (or its end is sent) when the session writes, with its other streams.
    c.h2->h2->resume(c.h2_stream);
    return mark_session_dirty(*c.h2);
  }
  std::uint64_t written = 0;
  StreamConn::Io io = c.write_out(written);
  stats_.bytes_sent.add(written);
  stats_.buffered_bytes.sub(written);
  if (io == StreamConn::Io::kGone) return close(c, CloseReason::kClient);
  if (io == StreamConn::Io::kOk && c.state == StreamConn::State::kClosing) {
    close(c, CloseReason::kClient);
  }
}

// ---- HTTP/2 ----

H2Settings Worker::h2_settings() const {
  H2Settings settings;
  settings.max_concurrent_streams = static_cast<std::uint32_t>(config_->limits.h2_max_streams);
  settings.max_header_list_bytes = config_->limits.max_request_header_bytes;
  return settings;
}

void Worker::start_h2(StreamConn& c) {
  // h2c: what was read of the preface and after it is the session's first input.
  std::string early = std::move(c.in);
  auto owned = std::make_unique<H2Session>();
  H2Session& s = *owned;
  s.worker = this;
  s.serial = c.serial;
  s.stats = &stats_;
  s.fd = std::move(c.fd);
  s.tls = std::move(c.tls);
  s.peer = c.peer;
  // The connection it began as goes without a trace: its socket, TLS session and the counts of
  // an open connection (connections_open, live_, tls_open) are the session's now.
  c.read_event.reset();
  c.write_event.reset();
  c.deadline.reset();
  c.state = StreamConn::State::kDead;
  schedule_reap();
  dead_.push_back(&c);
  s.read_event.reset(event_new(base_.get(), s.fd.get(), EV_READ | EV_PERSIST, &on_h2_read, &s));
  s.write_event.reset(event_new(base_.get(), s.fd.get(), EV_WRITE, &on_h2_write, &s));
  s.idle.reset(evtimer_new(base_.get(), &on_h2_idle, &s));
  s.h2 = H2Connection::create(h2_settings(), s);
  sessions_.emplace(s.serial, std::move(owned));
  stats_.h2_open.add();
  if (!s.h2) {
    spdlog::warn("cannot start HTTP/2 for {}: out of memory", s.peer);
    return close_session(s, CloseReason::kError);
  }
  if (s.tls) {
    auto open = metrics_.connections_open.load(std::memory_order_relaxed);
    if (auto refusal = admit_connection(open, s.peer, limits_, stats_, draining_)) {
      s.refusal = std::move(refusal);  // answered to its first request, then GOAWAY
    } else {
      s.ip_counted = true;
    }
  } else {
    // On the plain listener it was admitted at accept, as every connection there is.
    s.ip_counted = c.ip_counted;
    c.ip_counted = false;
  }
  arm_h2_idle(s);
  event_add(s.read_event.get(), nullptr);
  if (!early.empty() && !s.h2->receive(early.data(), early.size())) {
    spdlog::info("HTTP/2 connection from {} closed: {}", s.peer, s.h2->error());
    return close_session(s, CloseReason::kClient);
  }
  // The client's preface and first request may have come with the handshake's last flight.
  read_h2(s);
}

void Worker::arm_h2_idle(H2Session& s) {
  timeval tv = to_timeval(config_->limits.request_timeout);
  event_add(s.idle.get(), &tv);
}

void Worker::on_h2_idle(evutil_socket_t, short, void* arg) {
  auto& s = *static_cast<H2Session*>(arg);
  Worker& w = *s.worker;
  if (s.dead || !s.streams.empty()) return;
  // No stream for a whole request_timeout (a client that connects and asks for nothing, or
  // whose tabs all closed): GOAWAY, and the socket closes now whether or not it was read.
  s.going_away = true;
  w.send_h2(s);
  if (!s.dead) w.close_session(s, CloseReason::kTimeout);
  w.flush_dirty();
}

void Worker::on_h2_read(evutil_socket_t, short, void* arg) {
  auto& s = *static_cast<H2Session*>(arg);
  Worker& w = *s.worker;
  w.read_h2(s);
  w.flush_dirty();
}

void Worker::on_h2_write(evutil_socket_t, short, void* arg) {
  auto& s = *static_cast<H2Session*>(arg);
  Worker& w = *s.worker;
  s.write_armed = false;
  w.send_h2(s);
  w.flush_dirty();
}

void Worker::read_h2(H2Session& s) {
  if (s.dead) return;
  bool protocol_error = false;
  H2Session::Io io = s.read_in(protocol_error);
  handle_h2_events(s);
  if (s.dead) return;
  if (protocol_error) {
    // A protocol error or a flood (rapid reset, CONTINUATION, SETTINGS or PING floods): the
    // GOAWAY nghttp2 queued goes out if the socket takes it, and the connection closes.
    spdlog::info("HTTP/2 connection from {} closed: {}", s.peer, s.h2->error());
    s.going_away = s.goaway_sent = true;  // nghttp2's own GOAWAY says why, if it sent one
    send_h2(s);
    if (!s.dead) close_session(s, CloseReason::kClient);
    return;
  }
  if (io == H2Session::Io::kGone) return close_session(s, CloseReason::kClient);
  if (io == H2Session::Io::kMore) event_active(s.read_event.get(), EV_READ, 0);
  // SETTINGS and PING acknowledgements, responses queued meanwhile: they leave with this turn.
  mark_session_dirty(s);
}

void Worker::send_h2(H2Session& s) {
  for (;;) {
    if (s.dead) return;
    std::uint64_t written = 0;
    H2Session::Io io = s.write_out(written);
    stats_.bytes_sent.add(written);
    handle_h2_events(s);  // streams whose end (or reset) just left
    if (s.dead) return;
    if (io == H2Session::Io::kGone) return close_session(s, CloseReason::kClient);
    if (io != H2Session::Io::kOk) return;
    // Everything written. Going away, its last stream ended: GOAWAY now, then close.
    if (s.going_away && s.streams.empty() && !s.goaway_sent) {
      s.goaway_sent = true;
      s.h2->go_away();
      continue;
    }
    if (s.h2->finished() || (s.goaway_sent && s.streams.empty())) {
      close_session(s, draining_ ? CloseReason::kDrain : CloseReason::kClient);
    }
    return;
  }
}

void Worker::handle_h2_events(H2Session& s) {
  for (H2Event& event : s.h2->take_events()) {
    if (s.dead) return;
    if (auto* request = std::get_if<H2Request>(&event)) {
      open_h2_stream(s, *request);
      continue;
    }
    const auto& closed = std::get<H2Closed>(event);
    auto it = s.streams.find(closed.stream_id);
    if (it == s.streams.end()) continue;  // refused or reset by nghttp2 before it was ours
    StreamConn& c = *it->second;
    c.h2_closed = true;
    // Ended as it should (its END_STREAM sent: counted when its end was decided), or reset by
    // the client, which closed the tab or navigated away.
    close(c, CloseReason::kClient);
  }
}

void Worker::open_h2_stream(H2Session& s, H2Request& request) {
  auto conn = std::make_unique<StreamConn>();
  StreamConn& c = *conn;
  c.serial = next_serial_++;
  c.worker = this;
  c.peer = s.peer;
  c.h2 = &s;
  c.h2_stream = request.stream_id;
  c.chunked = false;  // DATA frames carry the events; HTTP/2 has no chunked coding
  c.state = StreamConn::State::kReading;
  conns_.emplace(c.serial, std::move(conn));
  s.streams[request.stream_id] = &c;
  event_del(s.idle.get());
  if (s.refusal) {
    s.going_away = true;  // GOAWAY after this answer
    return refuse(c, *s.refusal);
  }
  // Per IP, streams count: the connection's own count covers one of them, each other one is
  // counted by itself (and may be refused as a connection would be).
  if (s.ip_slot_stream == 0) {
    s.ip_slot_stream = c.serial;
  } else if (limits_.admit_ip_stream(c.peer) == ConnectionLimits::Verdict::kOk) {
    c.ip_counted = true;
  } else {
    stats_.limited_ip_connections.add();
    return refuse(
        c, Answer{429, "too many open connections from this address", {{"Retry-After", "5"}}});
  }
  switch (request.result) {
    case HttpParse::kTooLarge:
      return refuse(c, Answer{431, request.error});
    case HttpParse::kMalformed:
      return refuse(c, Answer{400, request.error});
    case HttpParse::kDone:
    case HttpParse::kIncomplete:
      break;
  }
  if (request.has_body && request.request.method == "GET") {
    return refuse(c, Answer{400, "a GET request has no body; send the stream request without one"});
  }
  c.request = std::make_unique<HttpRequest>(std::move(request.request));
  handle_request(c);
}

void Worker::respond_h2(StreamConn& c, std::string_view response, bool more_body) {
  SplitResponse split = split_response(response);
  if (!split.body.empty()) {
    c.out.append_copy(split.body);
    stats_.buffered_bytes.add(split.body.size());
  }
  // Without a body the HEADERS end the stream (a 204 preflight, a 304, HEAD).
  c.h2->h2->respond(c.h2_stream, split.status, split.headers, more_body || !split.body.empty());
  mark_session_dirty(*c.h2);
}

void Worker::detach_h2(StreamConn& c) {
  H2Session& s = *c.h2;
  s.streams.erase(c.h2_stream);
  if (s.ip_slot_stream == c.serial) s.ip_slot_stream = 0;
  if (s.dead) return;
  if (!c.h2_closed) {
    // Ended here while still open (a slow consumer): the client is told at once, and the
    // connection's other streams go on.
    c.h2_closed = true;
    s.h2->reset(c.h2_stream, NGHTTP2_CANCEL);
    mark_session_dirty(s);
  }
  if (s.streams.empty()) {
    if (s.going_away) {
      mark_session_dirty(s);  // it closes once flushed
    } else {
      arm_h2_idle(s);
    }
  }
}

void Worker::check_h2_bound(StreamConn& c) {
  const std::size_t bound = config_->limits.subscriber_buffer_bytes;
  H2Session& s = *c.h2;
  // As over HTTP/1: written first, so that a fast reader takes a burst at once.
  send_h2(s);
  if (c.state != StreamConn::State::kStreaming || c.out.cost() <= bound) return;
  if (s.blocked()) {
    // The socket itself stopped taking bytes: the client reads none of its streams.
    spdlog::info(
        "HTTP/2 connection from {} closed: more than {} bytes unsent on a stream and its socket "
        "full (slow consumer on every stream)",
        s.peer, bound);
    return close_session(s, CloseReason::kSlow);
  }
  // The socket takes bytes but this stream's flow-control window stays closed: its tab stopped
  // reading (or a zero-window stall). Reset alone, counted as a slow consumer.
  stats_.events_dropped.add(c.out.events());
  spdlog::info("HTTP/2 stream from {} reset: more than {} bytes unsent (slow consumer)", c.peer,
               bound);
  close(c, CloseReason::kSlow);
}

void Worker::mark_session_dirty(H2Session& s) {
  if (s.dirty || s.dead) return;
  s.dirty = true;
  dirty_sessions_.push_back(&s);
}

void Worker::close_session(H2Session& s, CloseReason reason) {
  if (s.dead) return;
  s.dead = true;  // first: its streams leave without resetting themselves through it
  std::vector<StreamConn*> streams;
  streams.reserve(s.streams.size());
  for (auto& [id, c] : s.streams) streams.push_back(c);
  for (StreamConn* c : streams) {
    if (reason == CloseReason::kSlow) stats_.events_dropped.add(c->out.events());
    c->h2_closed = true;
    close(*c, reason);
  }
  s.streams.clear();
  s.read_event.reset();
  s.write_event.reset();
  s.idle.reset();
  if (reason == CloseReason::kSlow) {
    // As for an HTTP/1 slow consumer: a reset, so the kernel does not hold its unread bytes.
    linger abort{1, 0};
    setsockopt(s.fd.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof(abort));
  } else if (s.tls) {
    s.tls->shutdown();
  }
  if (s.tls) {
    s.tls.reset();
    stats_.tls_open.sub();
  }
  s.fd.reset();
  std::string().swap(s.unsent);
  if (s.ip_counted) limits_.release_ip(s.peer);
  s.ip_counted = false;
  stats_.h2_open.sub();
  metrics_.connections_open.fetch_sub(1, std::memory_order_relaxed);
  live_.fetch_sub(1, std::memory_order_relaxed);
  schedule_reap();
  dead_sessions_.push_back(&s);
}

// ---- heartbeats ----

// The timer ticks kHeartbeatTicks times per interval and a stream idle for kHeartbeatTicks - 1
// ticks gets its comment: whenever the stream's last byte was queued within a tick, that is at
// most one interval after it (a tick per interval would allow up to two intervals of silence,
// and a proxy whose read timeout lies between the two cuts idle streams).
constexpr std::uint8_t kHeartbeatTicks = 8;

void Worker::arm_heartbeat() {
  timeval tv = to_timeval(config_->stream.heartbeat_interval / kHeartbeatTicks);
  event_add(heartbeat_.get(), &tv);
}

void Worker::on_heartbeat(evutil_socket_t, short, void* self) {
  auto* w = static_cast<Worker*>(self);
  for (auto& [serial, conn] : w->conns_) {
    StreamConn& c = *conn;
    if (c.state != StreamConn::State::kStreaming) continue;
    // Only idle streams need a comment to keep proxies from timing them out.
    if (++c.idle_ticks >= kHeartbeatTicks - 1)
      w->queue_static(c, kSseHeartbeat, kSseHeartbeatChunk);
  }
  w->flush_dirty();
}

}  // namespace sidecar
