// The admin listener: HTTP publishing (POST /publish, POST /publish/{topic}), health
// (/healthz, /readyz), Prometheus metrics (/metrics), who is online (GET /presence?topic=T),
// ending a subject's streams (POST /disconnect?subject=S[&topic=T]), and introspection: the
// topics (GET /topics), the open streams (GET /streams), the admin page (GET /admin) and its
// live figures (GET /admin/events, a small event stream of its own).
// On the hub's loop, so libevent's evhttp serves it; subscriber streams never come here.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "sidecar/admin/stats_stream.hpp"
#include "sidecar/config/config.hpp"
#include "sidecar/core/metrics.hpp"
#include "sidecar/core/stream_listing.hpp"
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
  // Publishes are refused from now on, and the admin streams end.
  void set_draining() {
    draining_ = true;
    stats_.end_all();
  }
  // POST /disconnect hands (subject, topic) to this; it ends the matching streams.
  // False when it cannot be done now (a shared engine is unavailable): 503.
  using Disconnect = std::function<bool(std::string subject, std::string topic)>;
  void set_disconnect(Disconnect disconnect) { disconnect_ = std::move(disconnect); }
  // GET /streams hands its filter to this, which lists the streams of every worker and calls
  // back, on this loop, once all have answered.
  using StreamLister =
      std::function<void(StreamFilter filter, std::function<void(StreamListing)> done)>;
  void set_stream_lister(StreamLister lister) { stream_lister_ = std::move(lister); }

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
  // GET /topics, /streams and /admin/events: for a publisher credential without topic limits.
  void introspect(evhttp_request* req, std::string_view path);
  void topics(evhttp_request* req);
  void streams(evhttp_request* req);
  void apply_limits();
  void count_refusal(const PublishCheck& check);

  Hub& hub_;
  const PresenceTracker& presence_;
  Metrics& metrics_;
  std::shared_ptr<const Config> config_;
  PublisherAccess& publishers_;
  std::function<std::string()> extra_metrics_;
  Disconnect disconnect_;
  StreamLister stream_lister_;
  event_base* base_;
  EvHttpPtr http_;
  std::optional<AcceptPause> accept_pause_;  // on http_'s listener, freed before it
  StatsStream stats_;                        // its requests are http_'s, freed before it
  bool draining_ = false;
};

}  // namespace sidecar
