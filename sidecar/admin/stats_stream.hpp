// GET /admin/events: the admin page's live figures, fed by the sidecar itself as a
// text/event-stream on the admin listener: one `stats` event a second with the rates of the
// last second (events published and delivered, bytes sent, slow consumers disconnected) and
// the gauges (open connections, history).
//
// evhttp's chunked replies have no flow control of their own, so each reader is bounded here:
// one whose unsent bytes pass kMaxUnsentBytes (a stalled reader: a tick is a few hundred bytes)
// is dropped, its connection freed, and a reader whose socket takes nothing for kWriteTimeout
// is dropped by libevent. At most kMaxReaders are served at once. The figures are computed
// once a tick for every reader, and only while one is open.
//
// Thread contract: the admin listener's loop (the main loop).
#pragma once

#include <event2/http.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sidecar/core/metrics.hpp"
#include "sidecar/hub/hub.hpp"
#include "sidecar/net/libevent.hpp"

namespace sidecar {

class StatsStream {
 public:
  static constexpr std::size_t kMaxReaders = 16;
  static constexpr std::size_t kMaxUnsentBytes = std::size_t{64} * 1024;
  static constexpr int kWriteTimeoutSeconds = 10;

  StatsStream(event_base* base, const Metrics& metrics, Hub& hub);
  ~StatsStream();
  StatsStream(const StatsStream&) = delete;
  StatsStream& operator=(const StatsStream&) = delete;

  // Answers `req` (its credential already checked) with the stream, or 503 when
  // kMaxReaders are open.
  void open(evhttp_request* req);
  // Ends every stream with its last chunk (the server drains).
  void end_all();
  std::size_t readers() const { return readers_.size(); }

 private:
  struct Reader {
    StatsStream* owner = nullptr;
    evhttp_request* req = nullptr;
    evhttp_connection* conn = nullptr;
  };
  struct Totals {
    std::chrono::steady_clock::time_point at;
    std::uint64_t published = 0;
    std::uint64_t delivered = 0;
    std::uint64_t bytes_sent = 0;
    std::uint64_t slow = 0;
  };

  static void on_tick(evutil_socket_t, short, void* self);
  static void on_close(evhttp_connection*, void* reader);
  void tick();
  Totals totals() const;
  // The `stats` event: the gauges now and the rates since `before`.
  std::string stats_event(const Totals& before, const Totals& now) const;
  void send(Reader& reader, std::string_view bytes);
  void remove(Reader* reader);
  // Frees its connection (and request) at once: it stopped reading.
  void drop(Reader* reader);

  const Metrics& metrics_;
  Hub& hub_;
  EventPtr tick_;
  std::vector<std::unique_ptr<Reader>> readers_;
  Totals last_;             // at the last tick
  std::string last_event_;  // sent then, and at once to a reader that opens in between
};

}  // namespace sidecar
