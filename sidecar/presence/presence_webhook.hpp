// Reports presence changes to the app: POSTs batches of changes to presence.webhook.url over
// the loop's HttpClient (never blocking), one batch in flight at a time so the app hears the
// changes in order. A failed batch (no answer, or not 2xx) is sent again after a doubling
// backoff, up to max_retries; then it is dropped, logged and counted.
//
// Body: {"changes":[{"action":"join","topic":"chat.lobby","subject":"alice","time":<ms>}]}
// With a secret, the headers X-Sidecar-Timestamp (unix seconds) and X-Sidecar-Signature
// ("sha256=" + hex HMAC-SHA256 of "<timestamp>\n<body>") let the app verify the sender.
//
// Thread contract: main loop only.
#pragma once

#include <deque>
#include <string>

#include "sidecar/config/config.hpp"
#include "sidecar/core/metrics.hpp"
#include "sidecar/net/http_client.hpp"
#include "sidecar/net/libevent.hpp"
#include "sidecar/presence/presence_tracker.hpp"

namespace sidecar {

class PresenceWebhook {
 public:
  PresenceWebhook(event_base* base, Metrics& metrics, PresenceWebhookConfig config);
  PresenceWebhook(const PresenceWebhook&) = delete;
  PresenceWebhook& operator=(const PresenceWebhook&) = delete;

  void configure(PresenceWebhookConfig config);
  void add(const PresenceChange& change);

 private:
  static void on_timer(evutil_socket_t, short, void* self);
  void arm(Millis delay);
  void send();
  void on_result(const HttpResult& result);

  Metrics& metrics_;
  PresenceWebhookConfig config_;
  HttpClient http_;
  EventPtr timer_;
  std::deque<PresenceChange> queue_;
  std::string batch_;              // body of the batch being sent or waiting to be retried
  std::size_t batch_changes_ = 0;  // changes in batch_
  bool sending_ = false;
  std::size_t attempt_ = 0;  // failed attempts of batch_
};

}  // namespace sidecar
