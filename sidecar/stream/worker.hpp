// A stream worker: one thread, one event loop, and the subscriber connections it accepted. It
// keeps the queue other threads hand it work through, the fan-out of committed events to its
// streams, and the lifecycle of each connection up to its reap.
//
// Thread contract: everything here runs on the worker's thread except post_events(), post()
// and connections(), which other threads use to hand it work (a queue plus an eventfd wakeup)
// or to read its size. A worker never touches another worker's connections.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include "sidecar/auth/access.hpp"
#include "sidecar/config/config.hpp"
#include "sidecar/core/metrics.hpp"
#include "sidecar/core/stream_listing.hpp"
#include "sidecar/hub/hub.hpp"
#include "sidecar/net/libevent.hpp"
#include "sidecar/net/loop_wakeup.hpp"
#include "sidecar/net/tls_context.hpp"
#include "sidecar/presence/presence_tracker.hpp"
#include "sidecar/stream/acceptor.hpp"
#include "sidecar/stream/connection_limits.hpp"
#include "sidecar/stream/delivery_plan.hpp"
#include "sidecar/stream/h2_session.hpp"
#include "sidecar/stream/stream_conn.hpp"
#include "sidecar/stream/stream_request.hpp"
#include "sidecar/stream/subscription_index.hpp"

namespace sidecar {

class Worker final : public EventListener {
 public:
  using Task = std::function<void(Worker&)>;

  // `listen_fd` is the shared, non-blocking listening socket; the worker does not own it.
  // `tls_listen_fd` (-1: none) is the TLS listener's, served with `tls` (non-null then).
  // `stats` is this worker's own slot in `metrics` (it writes there alone).
  Worker(unsigned index, Hub& hub, PresenceTracker& presence, Metrics& metrics, StreamStats& stats,
         ConnectionLimits& limits, std::shared_ptr<const Config> config, int listen_fd,
         int tls_listen_fd = -1, std::shared_ptr<const TlsContext> tls = nullptr);
  ~Worker() override;
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start();
  void join();

  // Any thread.
  void post_events(std::shared_ptr<const EventBatch> batch) override;
  void post_missed(std::vector<std::string> topics, EventId newest) override;
  void post(Task task);
  std::size_t connections() const { return live_.load(std::memory_order_relaxed); }
  // What the events handed to it and not yet taken cost (counted against
  // limits.worker_queue_bytes).
  std::size_t queued_bytes() const;

  // Worker thread (run them through post()).
  void reconfigure(std::shared_ptr<const Config> config);
  // New TLS connections use `tls` (a reloaded certificate); open ones keep the one they began
  // with.
  void set_tls_context(std::shared_ptr<const TlsContext> tls);
  // Ends, with `sidecar.revoked`, the streams of `subject` (on `topic`, when not empty).
  void disconnect(const std::string& subject, const std::string& topic);
  void drain();  // stop accepting; end every stream once its buffer is flushed
  // Its streams that match `filter` (GET /streams): the oldest `filter.limit`, and how many.
  StreamListing list_streams(const StreamFilter& filter) const;
  void stop();  // leave the loop now

 private:
  using Batch = std::shared_ptr<const EventBatch>;
  struct Queued {
    Batch batch;
    std::size_t cost = 0;
  };
  // Where batches were left out because the queue was over its bound: every stream then open
  // has a hole in what it received, so each is ended with a reconnect hint and resumes from
  // history with its Last-Event-ID (nothing is lost that history still holds).
  struct Gap {};
  using Item = std::variant<Queued, Task, Gap>;

  void enqueue(Item item);  // any thread
  void run_queue();         // on the wakeup: events and tasks handed over by other threads
  static void on_heartbeat(evutil_socket_t, short, void* self);
  static void on_reap(evutil_socket_t, short, void* self);
  static void on_read(evutil_socket_t fd, short, void* conn);
  static void on_write(evutil_socket_t fd, short, void* conn);
  static void on_deadline(evutil_socket_t, short, void* conn);
  static void on_expiry(evutil_socket_t, short, void* conn);
  static void on_lifetime(evutil_socket_t, short, void* conn);

  // Lifecycle of a connection.
  void open_conn(UniqueFd fd, std::string peer, bool tls);
  // Runs the TLS handshake as far as the socket allows; once done, the connection is admitted
  // and reads its request like a plain one.
  void continue_handshake(StreamConn& c);
  void admit(StreamConn& c);
  void read_request(StreamConn& c);
  // HTTP/2 (ALPN h2): the connection `c` began as becomes a session; its streams are
  // StreamConns that go through handle_request() and the rest like any other.
  void start_h2(StreamConn& c);
  static void on_h2_read(evutil_socket_t, short, void* session);
  static void on_h2_write(evutil_socket_t, short, void* session);
  static void on_h2_idle(evutil_socket_t, short, void* session);
  H2Settings h2_settings() const;
  void read_h2(H2Session& s);
  // Writes the session now (one gathered write) and handles what that ended.
  void send_h2(H2Session& s);
  // The requests and stream ends that nghttp2 reported while reading or writing.
  void handle_h2_events(H2Session& s);
  void open_h2_stream(H2Session& s, H2Request& request);
  // The response head of an HTTP/2 stream, from the HTTP/1 text `response` (its head and any
  // body, which is queued); `more_body`: bytes the caller queues after it.
  void respond_h2(StreamConn& c, std::string_view response, bool more_body);
  // A stream left its session (ended, reset, or the session closes).
  void detach_h2(StreamConn& c);
  void close_session(H2Session& s, CloseReason reason);
  void mark_session_dirty(H2Session& s);
  void arm_h2_idle(H2Session& s);
  void schedule_reap();
  void handle_request(StreamConn& c);
  void on_decision(std::uint64_t serial, AccessDecision decision, AccessRequest request,
                   const std::string& last_event_id, std::size_t latest);
  // `latest`: the newest events of each topic to send first, unless `last_event_id` resumes.
  void start_stream(StreamConn& c, std::unique_ptr<Admission> admission,
                    const std::string& last_event_id, std::size_t latest);
  void apply_replay(std::uint64_t serial, const Replay& replay, const std::string& last_event_id);
  void end_with_notice(StreamConn& c, std::string_view name, std::string_view reason,
                       CloseReason count_as);
  // Answers and closes once sent.
  void refuse(StreamConn& c, const Answer& answer);
  // Sends a file's response (/sidecar.js) and closes once sent, as an answer.
  void serve(StreamConn& c, const Served& served);
  // What both do: `head` copied, then `body` (static storage), counted as `count_as`.
  void answer_and_close(StreamConn& c, std::string_view head, std::string_view body,
                        CloseReason count_as);
  void end_after_flush(StreamConn& c, CloseReason count_as);
  void close(StreamConn& c, CloseReason reason);
  void leave_topics(StreamConn& c);
  StreamConn* find(std::uint64_t serial);

  // Fan-out: every stream takes its share of the delivery and is written at once, so the
  // first stream's bytes leave without waiting for the others to be queued.
  // `may_absorb`: batches that arrive meanwhile may join it (see run_queue).
  void deliver(DeliveryPlan& plan, bool may_absorb);
  void deliver_to(StreamConn& c, DeliveryPlan& plan, std::size_t run);
  void hold(StreamConn& c, DeliveryPlan& plan);  // while it is replaying
  // Tells the streams on `topics` (all when empty) that they missed events.
  void tell_missed(const std::vector<std::string>& topics, EventId newest);
  void fell_behind();  // at a Gap
  // Moves the batches at the front of the queue into `plan`; whether there were any.
  bool absorb(DeliveryPlan& plan);

  // Output. Queueing marks the stream for this turn's flush; flush_dirty() writes them all.
  void queue_slice(StreamConn& c, const DeliveryPlan::Slice& slice);
  void queue_event(StreamConn& c, const Event& event);
  void queue_copy(StreamConn& c, std::string_view frame);  // wraps it as a chunk if chunked
  void queue_static(StreamConn& c, std::string_view plain, std::string_view chunked);
  void mark_dirty(StreamConn& c);
  // Over its buffer bound, a stream is written first (a fast reader drains a burst at once)
  // and disconnected as a slow consumer if it stays over.
  void check_bound(StreamConn& c);
  // The same for an HTTP/2 stream: reset alone when its flow-control window stayed closed, or
  // the whole connection closed when its socket is the one that stopped taking bytes.
  void check_h2_bound(StreamConn& c);
  void flush(StreamConn& c);
  void flush_dirty();
  void arm_heartbeat();

  const unsigned index_;
  Hub& hub_;
  PresenceTracker& presence_;
  Metrics& metrics_;
  StreamStats& stats_;
  ConnectionLimits& limits_;
  std::shared_ptr<const Config> config_;
  const int listen_fd_;

  EventBasePtr base_;
  std::unique_ptr<AccessPolicy> access_;  // after base_: its outbound calls hold events on it
  std::unique_ptr<LoopWakeup> wakeup_;
  std::optional<Acceptor> acceptor_;
  std::optional<Acceptor> tls_acceptor_;   // with listen.sse_tls
  std::shared_ptr<const TlsContext> tls_;  // for new TLS connections
  EventPtr heartbeat_;
  EventPtr reap_event_;
  std::thread thread_;

  mutable std::mutex queue_mutex_;
  std::vector<Item> queue_;      // GUARDED_BY(queue_mutex_)
  std::size_t queue_bytes_ = 0;  // GUARDED_BY(queue_mutex_): the cost of its batches
  // limits.worker_queue_bytes, read by the threads that hand batches over.
  std::atomic<std::size_t> queue_bound_;

  std::unordered_map<std::uint64_t, std::unique_ptr<StreamConn>> conns_;
  SubscriptionIndex index_by_topic_;
  // Live events held for streams whose replay is not in yet, by serial (few, and briefly: kept
  // out of StreamConn so an idle stream does not pay for them).
  struct Held {
    std::vector<EventRef> events;
    std::size_t bytes = 0;
  };
  std::unordered_map<std::uint64_t, Held> held_;
  std::vector<StreamConn*> dirty_;
  std::vector<StreamConn*> dead_;
  // HTTP/2 connections, by the serial of the connection each began as.
  std::unordered_map<std::uint64_t, std::unique_ptr<H2Session>> sessions_;
  std::vector<H2Session*> dirty_sessions_;  // to write at the end of this turn's flush
  std::vector<H2Session*> dead_sessions_;
  std::uint64_t next_serial_ = 1;
  std::uint64_t deliveries_ = 0;
  bool draining_ = false;
  std::atomic<std::size_t> live_{0};
};

}  // namespace sidecar
