// The daemon: owns the main loop (hub, publish socket, admin listener, signals) and the stream
// workers, and carries out reload (SIGHUP) and graceful drain (SIGTERM/SIGINT).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sidecar/admin/admin_server.hpp"
#include "sidecar/app/heap_trim.hpp"
#include "sidecar/app/stream_census.hpp"
#include "sidecar/config/config.hpp"
#include "sidecar/core/metrics.hpp"
#include "sidecar/hub/hub.hpp"
#include "sidecar/ingest/socket_ingest.hpp"
#include "sidecar/net/libevent.hpp"
#include "sidecar/presence/presence_reporter.hpp"
#include "sidecar/stream/worker.hpp"

namespace sidecar {

class Server {
 public:
  Server(std::shared_ptr<const Config> config, std::string config_path);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Runs until drained. Returns the process exit status.
  int run();

 private:
  static void on_signal(evutil_socket_t sig, short, void* self);
  static void on_housekeeping(evutil_socket_t, short, void* self);
  static void on_drain_check(evutil_socket_t, short, void* self);
  static void on_watchdog(evutil_socket_t, short, void* self);

  bool start();
  std::unique_ptr<SavedState> restore_state();
  bool save_state();
  void reload();
  void reload_config();
  void begin_drain();
  void check_drain();
  std::string server_metrics() const;

  std::shared_ptr<const Config> config_;
  const std::string config_path_;
  Metrics metrics_;
  EventBasePtr base_;
  // Who is on which topic: filled by the workers, reported by presence_, read by admin_.
  PresenceTracker presence_tracker_;
  std::unique_ptr<Hub> hub_;
  // Free heap grown by more than this (and by 1/32 of the heap in use) since the last trim is
  // given back to the system at the next housekeeping tick.
  HeapTrim heap_trim_{std::size_t{1} << 20};
  std::unique_ptr<PresenceReporter> presence_;
  std::unique_ptr<PublisherAccess> publishers_;
  std::unique_ptr<ConnectionLimits> limits_;
  UniqueFd sse_listener_;
  UniqueFd sse_tls_listener_;              // with listen.sse_tls
  std::shared_ptr<const TlsContext> tls_;  // for new TLS connections; replaced by a reload
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<StreamCensus> census_;  // GET /streams over workers_
  std::unique_ptr<SocketIngest> ingest_;
  std::unique_ptr<AdminServer> admin_;
  std::vector<EventPtr> signals_;
  EventPtr housekeeping_;
  EventPtr drain_check_;
  EventPtr watchdog_;
  // The watchdog is fed only while every worker loop answers: round r is posted to each, and
  // the next ping waits until all have stored r.
  std::unique_ptr<std::atomic<std::uint64_t>[]> worker_rounds_;
  std::uint64_t watchdog_round_ = 0;
  bool draining_ = false;
  std::chrono::steady_clock::time_point drain_deadline_;
  std::atomic<unsigned> workers_stopped_accepting_{0};
};

}  // namespace sidecar
