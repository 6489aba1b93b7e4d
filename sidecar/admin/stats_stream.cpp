#include "sidecar/admin/stats_stream.hpp"

#include <event2/keyvalq_struct.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

#include "sidecar/core/json_writer.hpp"
#include "sidecar/core/wall_clock.hpp"

namespace sidecar {
namespace {

constexpr timeval kTickInterval{1, 0};
// Sent first: what an EventSource-like reader waits before it reconnects.
constexpr std::string_view kHello = "retry: 2000\n\n";

double per_second(std::uint64_t now, std::uint64_t before, double seconds) {
  if (now < before || seconds <= 0) return 0;
  return std::round(static_cast<double>(now - before) / seconds * 10.0) / 10.0;
}

}  // namespace

StatsStream::StatsStream(event_base* base, const Metrics& metrics, Hub& hub)
    : metrics_(metrics), hub_(hub), tick_(event_new(base, -1, EV_PERSIST, &on_tick, this)) {}

StatsStream::~StatsStream() {
  // The server's evhttp is freed after this and frees the connections: none may call back.
  for (auto& r : readers_) {
    if (r->conn) evhttp_connection_set_closecb(r->conn, nullptr, nullptr);
  }
}

StatsStream::Totals StatsStream::totals() const {
  Totals t;
  t.at = std::chrono::steady_clock::now();
  t.published = metrics_.events_published.load(std::memory_order_relaxed);
  t.delivered = metrics_.sum(&StreamStats::events_delivered);
  t.bytes_sent = metrics_.sum(&StreamStats::bytes_sent);
  t.slow = metrics_.closed(CloseReason::kSlow);
  return t;
}

std::string StatsStream::stats_event(const Totals& before, const Totals& now) const {
  const double seconds = std::chrono::duration<double>(now.at - before.at).count();
  const HistoryStats history = hub_.history_stats();
  rapidjson::StringBuffer json;
  JsonWriter w(json);
  w.StartObject();
  w.Key("time_ms");
  w.Uint64(unix_ms());
  w.Key("published_per_s");
  w.Double(per_second(now.published, before.published, seconds));
  w.Key("delivered_per_s");
  w.Double(per_second(now.delivered, before.delivered, seconds));
  w.Key("bytes_sent_per_s");
  w.Double(per_second(now.bytes_sent, before.bytes_sent, seconds));
  w.Key("slow_consumer_disconnects_per_s");
  w.Double(per_second(now.slow, before.slow, seconds));
  w.Key("slow_consumer_disconnects_total");
  w.Uint64(now.slow);
  w.Key("published_total");
  w.Uint64(now.published);
  w.Key("connections");
  w.Uint64(metrics_.connections_open.load(std::memory_order_relaxed));
  w.Key("history_topics");
  w.Uint64(history.topics);
  w.Key("history_events");
  w.Uint64(history.events);
  w.Key("history_memory_bytes");
  w.Uint64(history.memory);
  w.Key("engine_ready");
  w.Bool(hub_.engine().ready());
  w.EndObject();
  std::string event = "event: stats\ndata: ";
  event += json.GetString();
  event += "\n\n";
  return event;
}

void StatsStream::open(evhttp_request* req) {
  evkeyvalq* headers = evhttp_request_get_output_headers(req);
  evhttp_add_header(headers, "Cache-Control", "no-store");
  if (readers_.size() >= kMaxReaders) {
    evhttp_add_header(headers, "Content-Type", "text/plain; charset=utf-8");
    evhttp_add_header(headers, "Retry-After", "5");
    EvBufferPtr body(evbuffer_new());
    evbuffer_add_printf(body.get(), "too many admin streams open (%zu); close one\n", kMaxReaders);
    evhttp_send_reply(req, 503, nullptr, body.get());
    return;
  }
  evhttp_connection* conn = evhttp_request_get_connection(req);
  if (!conn) return;
  evhttp_add_header(headers, "Content-Type", "text/event-stream");
  evhttp_add_header(headers, "X-Accel-Buffering", "no");
  if (readers_.empty()) {
    last_ = totals();
    last_event_ = stats_event(last_, last_);  // rates are known from the first tick on
    event_add(tick_.get(), &kTickInterval);
  }
  auto reader = std::make_unique<Reader>();
  reader->owner = this;
  reader->req = req;
  reader->conn = conn;
  evhttp_send_reply_start(req, 200, "OK");
  // A stream reads nothing after its request: no read timeout. A reader that takes nothing
  // for a while is gone or stalled, and is dropped.
  const timeval write_timeout{kWriteTimeoutSeconds, 0};
  bufferevent_set_timeouts(evhttp_connection_get_bufferevent(conn), nullptr, &write_timeout);
  evhttp_connection_set_closecb(conn, &on_close, reader.get());
  readers_.push_back(std::move(reader));
  std::string first(kHello);
  first += last_event_;
  send(*readers_.back(), first);
}

void StatsStream::on_tick(evutil_socket_t, short, void* self) {
  static_cast<StatsStream*>(self)->tick();
}

void StatsStream::tick() {
  Totals now = totals();
  last_event_ = stats_event(last_, now);
  last_ = now;
  std::vector<Reader*> all;
  for (auto& r : readers_) all.push_back(r.get());
  for (Reader* r : all) {
    bufferevent* bev = evhttp_connection_get_bufferevent(r->conn);
    if (evbuffer_get_length(bufferevent_get_output(bev)) > kMaxUnsentBytes) {
      spdlog::info("admin stream dropped: more than {} bytes unsent (it stopped reading)",
                   kMaxUnsentBytes);
      drop(r);
      continue;
    }
    send(*r, last_event_);
  }
}

void StatsStream::send(Reader& reader, std::string_view bytes) {
  EvBufferPtr chunk(evbuffer_new());
  evbuffer_add(chunk.get(), bytes.data(), bytes.size());
  evhttp_send_reply_chunk(reader.req, chunk.get());
}

void StatsStream::on_close(evhttp_connection*, void* arg) {
  auto* reader = static_cast<Reader*>(arg);
  // The client went away (or its socket failed): evhttp has let go of the request, which
  // ending the reply now frees. Had it not, the connection would free it.
  if (!evhttp_request_get_connection(reader->req)) evhttp_send_reply_end(reader->req);
  reader->owner->remove(reader);
}

void StatsStream::remove(Reader* reader) {
  auto it = std::find_if(readers_.begin(), readers_.end(),
                         [reader](const auto& r) { return r.get() == reader; });
  if (it != readers_.end()) readers_.erase(it);
  if (readers_.empty()) event_del(tick_.get());
}

void StatsStream::drop(Reader* reader) {
  evhttp_connection* conn = reader->conn;
  evhttp_connection_set_closecb(conn, nullptr, nullptr);
  remove(reader);
  evhttp_connection_free(conn);  // and its request with it
}

void StatsStream::end_all() {
  auto readers = std::move(readers_);
  readers_.clear();
  event_del(tick_.get());
  for (auto& r : readers) {
    evhttp_connection_set_closecb(r->conn, nullptr, nullptr);
    evhttp_send_reply_end(r->req);
  }
}

}  // namespace sidecar
