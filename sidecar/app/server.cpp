#include "sidecar/app/server.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>
#include <thread>

#include "sidecar/app/logging.hpp"
#include "sidecar/app/service_manager.hpp"
#include "sidecar/auth/access.hpp"
#include "sidecar/config/config_loader.hpp"
#include "sidecar/config/config_schema.hpp"
#include "sidecar/core/prometheus_text.hpp"
#include "sidecar/core/wall_clock.hpp"
#include "sidecar/hub/memory_engine.hpp"
#include "sidecar/hub/redis_engine.hpp"
#include "sidecar/net/listen_socket.hpp"
#include "sidecar/stream/tls_settings.hpp"

namespace sidecar {
namespace {

constexpr timeval kHousekeepingInterval{1, 0};
constexpr timeval kDrainCheckInterval{0, 50000};

// Settings bound to sockets and threads at startup (the restart-only rows of the option
// table); a reload keeps the running values.
void keep_startup_settings(const Config& running, Config& next) {
  for (const auto& warning : keep_restart_only_options(running, next)) {
    spdlog::warn("config reload: {}", warning);
  }
}

// A configuration that refuses every browser (the package ships it so until the admin lists
// the app's origins) says so where the admin looks first, naming the key to set.
void warn_about_origins(const Config& config) {
  if (!config.cors.allow_origins.empty()) return;
  spdlog::warn(
      "cors.allow_origins is empty: browser pages of every origin are refused (403); list your "
      "app's origins there, e.g. cors.allow_origins: [\"https://app.example.com\"]");
}

}  // namespace

Server::Server(std::shared_ptr<const Config> config, std::string config_path)
    : config_(std::move(config)), config_path_(std::move(config_path)), base_(event_base_new()) {}

Server::~Server() {
  for (auto& w : workers_) {
    w->post([](Worker& worker) { worker.stop(); });
  }
  workers_.clear();  // joins each thread; no stream reports presence any more
  census_.reset();   // answers still queued hold admin requests: gone before the listener
  admin_.reset();
  ingest_.reset();
  presence_.reset();
}

std::unique_ptr<SavedState> Server::restore_state() {
  const std::string& path = config_->state_file;
  if (path.empty()) return nullptr;
  if (config_->engine.type == "redis") {
    spdlog::info("state_file {} not used: with the redis engine, history lives in Redis", path);
    return nullptr;
  }
  StateLoad load = read_state_file(path);
  if (load.result == StateLoad::Result::kMissing) {
    spdlog::info("no state file at {}; starting with empty history", path);
    return nullptr;
  }
  if (load.result == StateLoad::Result::kRejected) {
    std::string aside = path + ".bad-" + std::to_string(unix_seconds());
    if (::rename(path.c_str(), aside.c_str()) == 0) {
      spdlog::error("state file {} not used: {}; moved to {}; starting with empty history", path,
                    load.error, aside);
    } else {
      spdlog::error(
          "state file {} not used: {}; cannot move it aside ({}); starting with empty "
          "history",
          path, load.error, std::strerror(errno));
    }
    return nullptr;
  }
  // Consumed: if this run ends without a graceful stop, the next must not reuse these ids.
  if (::unlink(path.c_str()) != 0) {
    spdlog::error("cannot remove the state file {} after reading it: {}; not using it", path,
                  std::strerror(errno));
    return nullptr;
  }
  auto state = std::make_unique<SavedState>(std::move(*load.state));
  spdlog::info("restored {} event(s) from {}; ids continue after {}-{}",
               state->history.events.size(), path, state->epoch, state->last_seq);
  return state;
}

bool Server::save_state() {
  const std::string& path = config_->state_file;
  if (path.empty() || !hub_) return true;
  auto state = hub_->engine().save();
  if (!state) return true;
  std::string error;
  if (!write_state_file(path, *state, error)) {
    spdlog::error("state not saved: {}; streams will be told they missed events", error);
    return false;
  }
  spdlog::info("saved {} event(s) and ids up to {}-{} to {}", state->history.events.size(),
               state->epoch, state->last_seq, path);
  return true;
}

bool Server::start() {
  std::uint64_t epoch = unix_ms();
  const Config& cfg = *config_;
  warn_about_origins(cfg);
  std::unique_ptr<SavedState> restored = restore_state();
  hub_ = std::make_unique<Hub>(
      base_.get(), metrics_,
      [&](EventSink& sink) -> std::unique_ptr<Engine> {
        if (cfg.engine.type == "redis") {
          return std::make_unique<RedisEngine>(base_.get(), cfg.engine.redis, cfg.history, sink);
        }
        return std::make_unique<MemoryEngine>(epoch, cfg.history, sink, restored.get());
      },
      cfg.history.max_topics);
  restored.reset();
  // Sockets handed over by the service manager stay open across restarts: connections wait in
  // their backlog while no instance runs, instead of being refused.
  auto inherited = service_manager::take_sockets();
  auto take = [&inherited](const char* name) {
    auto it = inherited.find(name);
    if (it == inherited.end()) return UniqueFd();
    spdlog::info("using the {} socket passed by the service manager", name);
    return std::move(it->second);
  };

  presence_ = std::make_unique<PresenceReporter>(base_.get(), *hub_, presence_tracker_, metrics_,
                                                 cfg.presence);

  std::string error;
  sse_listener_ = take("sse");
  if (!sse_listener_) sse_listener_ = listen_tcp(cfg.listen.sse, cfg.listen.backlog, error);
  if (!sse_listener_) {
    spdlog::error("{}", error);
    return false;
  }
  if (!cfg.listen.sse_tls.empty()) {
    for (const auto& w : check_tls_settings(cfg).warnings) spdlog::warn("{}", w.to_string());
    tls_ = make_tls_context(cfg, error);
    if (!tls_) {
      spdlog::error("listen.sse_tls: {}", error);
      return false;
    }
    sse_tls_listener_ = take("sse_tls");
    if (!sse_tls_listener_) {
      sse_tls_listener_ = listen_tcp(cfg.listen.sse_tls, cfg.listen.backlog, error);
    }
    if (!sse_tls_listener_) {
      spdlog::error("{}", error);
      return false;
    }
    spdlog::info("TLS certificate: {}", tls_->description());
    metrics_.tls_certificate_expiry =
        static_cast<std::uint64_t>(std::max<std::int64_t>(0, tls_->not_after()));
  }
  publishers_ = std::make_unique<PublisherAccess>(cfg);
  admin_ = std::make_unique<AdminServer>(base_.get(), *hub_, presence_tracker_, metrics_, config_,
                                         *publishers_, [this] { return server_metrics(); });
  // Through the engine: with a shared one, the streams of every node end.
  admin_->set_disconnect([this](const std::string& subject, const std::string& topic) {
    return hub_->engine().disconnect(subject, topic);
  });
  hub_->set_disconnect([this](const std::string& subject, const std::string& topic) {
    for (auto& w : workers_) {
      w->post([subject, topic](Worker& worker) { worker.disconnect(subject, topic); });
    }
  });
  census_ = std::make_unique<StreamCensus>(base_.get(), workers_);
  admin_->set_stream_lister([this](StreamFilter filter, StreamCensus::Done done) {
    census_->list(std::move(filter), std::move(done));
  });
  if (!admin_->listen(error, take("admin"))) {
    spdlog::error("{}", error);
    return false;
  }
  ingest_ = std::make_unique<SocketIngest>(base_.get(), *hub_, metrics_, config_, *publishers_);
  if (!ingest_->listen(error, take("publish"))) {
    spdlog::error("{}", error);
    return false;
  }

  unsigned count = cfg.workers ? cfg.workers : std::max(1u, std::thread::hardware_concurrency());
  limits_ = std::make_unique<ConnectionLimits>(cfg.limits);
  for (unsigned i = 0; i < count; ++i) {
    StreamStats& stats = metrics_.streams.emplace_back();
    workers_.push_back(std::make_unique<Worker>(
        i, *hub_, presence_tracker_, metrics_, stats, *limits_, config_, sse_listener_.get(),
        sse_tls_listener_ ? sse_tls_listener_.get() : -1, tls_));
    hub_->add_listener(workers_.back().get());
  }
  for (auto& w : workers_) w->start();

  for (int sig : {SIGHUP, SIGTERM, SIGINT}) {
    signals_.emplace_back(evsignal_new(base_.get(), sig, &on_signal, this));
    event_add(signals_.back().get(), nullptr);
  }
  housekeeping_.reset(event_new(base_.get(), -1, EV_PERSIST, &on_housekeeping, this));
  event_add(housekeeping_.get(), &kHousekeepingInterval);
  drain_check_.reset(event_new(base_.get(), -1, EV_PERSIST, &on_drain_check, this));

  if (auto interval = service_manager::watchdog_interval()) {
    worker_rounds_ = std::make_unique<std::atomic<std::uint64_t>[]>(workers_.size());
    watchdog_.reset(event_new(base_.get(), -1, EV_PERSIST, &on_watchdog, this));
    timeval tv = to_timeval(*interval);
    event_add(watchdog_.get(), &tv);
  }

  spdlog::info("sse-sidecar {} streaming on http://{}/events, admin on http://{}, {} worker(s)",
               SIDECAR_VERSION, cfg.listen.sse, cfg.listen.admin, count);
  if (tls_) spdlog::info("streaming over TLS on https://{}/events", cfg.listen.sse_tls);
  if (!cfg.publish.socket.empty()) spdlog::info("publish socket {}", cfg.publish.socket);
  service_manager::notify("READY=1\nSTATUS=streaming");
  return true;
}

int Server::run() {
  if (!base_) return 1;
  if (!start()) {
    // The state file was consumed when read: put it back, or a failed start would lose it.
    save_state();
    return 1;
  }
  event_base_dispatch(base_.get());
  for (auto& w : workers_) w->post([](Worker& worker) { worker.stop(); });
  for (auto& w : workers_) w->join();
  bool saved = save_state();
  spdlog::info("stopped");
  return saved ? 0 : 1;
}

void Server::on_watchdog(evutil_socket_t, short, void* self) {
  auto* s = static_cast<Server*>(self);
  for (std::size_t i = 0; i < s->workers_.size(); ++i) {
    if (s->worker_rounds_[i].load() != s->watchdog_round_) {
      spdlog::warn("stream worker {} has not answered; not feeding the watchdog", i);
      return;
    }
  }
  service_manager::notify("WATCHDOG=1");
  std::uint64_t round = ++s->watchdog_round_;
  for (std::size_t i = 0; i < s->workers_.size(); ++i) {
    auto* slot = &s->worker_rounds_[i];
    s->workers_[i]->post([slot, round](Worker&) { slot->store(round); });
  }
}

void Server::on_signal(evutil_socket_t sig, short, void* self) {
  auto* s = static_cast<Server*>(self);
  if (sig == SIGHUP) return s->reload();
  if (s->draining_) {
    spdlog::warn("second stop signal: exiting without waiting for streams");
    event_base_loopbreak(s->base_.get());
    return;
  }
  s->begin_drain();
}

void Server::on_housekeeping(evutil_socket_t, short, void* self) {
  static_cast<Server*>(self)->hub_->expire();
  static_cast<Server*>(self)->heap_trim_.tick();
}

void Server::reload() {
  service_manager::notify_reloading();
  reload_config();
  service_manager::notify("READY=1");
}

void Server::reload_config() {
  spdlog::info("reloading configuration from {}", config_path_);
  ConfigLoad load = load_config_file(config_path_);
  std::vector<ConfigProblem> tls_warnings;
  if (load.config) {
    load.problems = access_config_problems(*load.config);
    auto tls = check_tls_settings(*load.config);
    load.problems.insert(load.problems.end(), tls.problems.begin(), tls.problems.end());
    tls_warnings = std::move(tls.warnings);
    if (!load.problems.empty()) load.config.reset();
  }
  if (!load.config) {
    for (const auto& p : load.problems) spdlog::error("config reload rejected: {}", p.to_string());
    spdlog::error("keeping the running configuration");
    return;
  }
  keep_startup_settings(*config_, *load.config);
  warn_about_origins(*load.config);
  for (const auto& w : tls_warnings) spdlog::warn("config reload: {}", w.to_string());
  // A new pair is taken by new connections; open ones keep the context they began with.
  if (tls_ && !(load.config->tls.certificate_file == config_->tls.certificate_file &&
                load.config->tls.key_file == config_->tls.key_file)) {
    std::string error;
    auto tls = make_tls_context(*load.config, error);
    if (!tls) {
      spdlog::error("config reload rejected: tls: {}; keeping the running configuration", error);
      return;
    }
    tls_ = tls;
    for (auto& w : workers_) w->post([tls](Worker& worker) { worker.set_tls_context(tls); });
    spdlog::info("TLS certificate reloaded: {}", tls_->description());
    metrics_.tls_certificate_expiry =
        static_cast<std::uint64_t>(std::max<std::int64_t>(0, tls_->not_after()));
  }
  auto next = std::make_shared<const Config>(std::move(*load.config));
  config_ = next;
  configure_logging(next->log);
  hub_->configure(next->history);
  presence_->configure(next->presence);
  *publishers_ = PublisherAccess(*next);
  limits_->configure(next->limits);
  admin_->reconfigure(next);
  ingest_->reconfigure(next);
  for (auto& w : workers_) w->post([next](Worker& worker) { worker.reconfigure(next); });
  spdlog::info("configuration reloaded");
}

void Server::begin_drain() {
  service_manager::notify("STOPPING=1\nSTATUS=draining");
  draining_ = true;
  drain_deadline_ = std::chrono::steady_clock::now() + config_->drain_timeout;
  spdlog::info("draining: no new streams or publishes; closing {} stream(s) within {} ms",
               metrics_.connections_open.load(), config_->drain_timeout.count());
  admin_->set_draining();
  ingest_->drain();
  for (auto& w : workers_) {
    w->post([this](Worker& worker) {
      worker.drain();
      workers_stopped_accepting_.fetch_add(1);
    });
  }
  event_add(drain_check_.get(), &kDrainCheckInterval);
}

void Server::on_drain_check(evutil_socket_t, short, void* self) {
  static_cast<Server*>(self)->check_drain();
}

void Server::check_drain() {
  // Close the listening socket only once no worker polls it any more, so its descriptor number
  // cannot be reused under a worker's feet; from then on connects are refused, not queued.
  if (sse_listener_ && workers_stopped_accepting_.load() == workers_.size()) {
    sse_listener_.reset();
    sse_tls_listener_.reset();
  }
  std::size_t open = 0;
  for (const auto& w : workers_) open += w->connections();
  if (open == 0 && !sse_listener_) {
    event_base_loopbreak(base_.get());
    return;
  }
  if (std::chrono::steady_clock::now() >= drain_deadline_) {
    spdlog::warn("drain time over with {} connection(s) still open; closing them", open);
    event_base_loopbreak(base_.get());
  }
}

std::string Server::server_metrics() const {
  std::string out;
  append_metric_family(out, "sse_workers", "gauge", "Stream worker threads.");
  append_metric_sample(out, "sse_workers", workers_.size());
  append_metric_family(out, "sse_draining", "gauge", "1 while shutting down.");
  append_metric_sample(out, "sse_draining", draining_ ? 1 : 0);
  // What sse_connections_open is measured against: the configured limit can be capped by the
  // descriptor limit, and an alert on the configured number would then come too late.
  if (limits_) {
    append_metric_family(out, "sse_max_connections", "gauge",
                         "Streams accepted at most: limits.max_connections, or less when the "
                         "descriptor limit cannot hold that many.");
    append_metric_sample(out, "sse_max_connections", limits_->max_connections());
  }
  // How evenly the workers share the connections: they compete to accept on one socket.
  append_metric_family(out, "sse_worker_connections", "gauge",
                       "Open connections per stream worker.");
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    append_metric_sample(out, "sse_worker_connections", workers_[i]->connections(),
                         "worker=\"" + std::to_string(i) + "\"");
  }
  append_metric_family(
      out, "sse_worker_queue_bytes", "gauge",
      "Events handed to a stream worker and not yet taken, as limits.worker_queue_bytes counts "
      "them.");
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    append_metric_sample(out, "sse_worker_queue_bytes", workers_[i]->queued_bytes(),
                         "worker=\"" + std::to_string(i) + "\"");
  }
  return out;
}

}  // namespace sidecar
