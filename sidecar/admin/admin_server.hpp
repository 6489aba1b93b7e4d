// The admin listener: HTTP publishing (POST /publish, POST /publish/{topic}), health
// (/healthz, /readyz), Prometheus metrics (/metrics), who is online (GET /presence?topic=T) and
// ending a subject's streams (POST /disconnect?subject=S[&topic=T]).
// Request/response only, on the hub's loop, so libevent's evhttp serves it; streams never come
// here.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "sidecar/config/config.hpp"
#include "sidecar/core/metrics.hpp"
#include "sidecar/hub/hub.hpp"
#include "sidecar/ingest/publisher_access.hpp"
#include "sidecar/net/accept_pause.hpp"
#include "sidecar/net/libevent.hpp"
#include "sidecar/presence/presence_tracker.hpp"

namespace sidecar {

class AdminServer {
 public:
  // Extra gauges owned by the server (open publisher connections, workers...) are rendered
  // through `extra_metrics`, called on each scrape.
  AdminServer(event_base* base, Hub& hub, const PresenceTracker& presence, Metrics& metrics,
              std::shared_ptr<const Config> config, PublisherAccess& publishers,
              std::function<std::string()> extra_metrics);
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds listen.admin, or serves `inherited` (socket activation) instead.
  bool listen(std::string& error, UniqueFd inherited = {});
  void reconfigure(std::shared_ptr<const Config> config);
  void set_draining() { draining_ = true; }
  // POST /disconnect hands (subject, topic) to this; it ends the matching streams.
  // False when it cannot be done now (a shared engine is unavailable): 503.
  using Disconnect = std::function<bool(std::string subject, std::string topic)>;
  void set_disconnect(Disconnect disconnect) { disconnect_ = std::move(disconnect); }

 private:
  static void on_request(evhttp_request* req, void* self);
  void handle(evhttp_request* req);
  void publish_json(evhttp_request* req, const Publisher& publisher, const std::string& body);
  void publish_raw(evhttp_request* req, const Publisher& publisher, std::string_view topic,
                   std::string body);
  std::optional<Publisher> authenticate(evhttp_request* req, std::string_view method,
                                        const std::string& body);
  void presence(evhttp_request* req);
  void disconnect(evhttp_request* req, const Publisher& publisher);
  void apply_limits();
  void count_refusal(const PublishCheck& check);

  Hub& hub_;
  const PresenceTracker& presence_;
  Metrics& metrics_;
  std::shared_ptr<const Config> config_;
  PublisherAccess& publishers_;
  std::function<std::string()> extra_metrics_;
  Disconnect disconnect_;
  event_base* base_;
  EvHttpPtr http_;
  std::optional<AcceptPause> accept_pause_;  // on http_'s listener, freed before it
  bool draining_ = false;
};

}  // namespace sidecar
