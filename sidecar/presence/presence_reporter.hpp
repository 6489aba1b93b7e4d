// Carries presence changes from the tracker (filled by the stream workers) to where they are
// reported, once the engine says they change the whole service's presence (with several nodes,
// a subject's first stream anywhere, or its last): `sidecar.join` / `sidecar.leave` events
// published through the hub on each rule's event topic, with data
// {"topic":"chat.lobby","subject":"alice"}, and the app's webhook.
//
// Thread contract: main loop only; the tracker wakes it from the workers' threads.
#pragma once

#include <memory>

#include "sidecar/config/config.hpp"
#include "sidecar/core/metrics.hpp"
#include "sidecar/hub/hub.hpp"
#include "sidecar/net/loop_wakeup.hpp"
#include "sidecar/presence/presence_tracker.hpp"
#include "sidecar/presence/presence_webhook.hpp"

namespace sidecar {

class PresenceReporter {
 public:
  PresenceReporter(event_base* base, Hub& hub, PresenceTracker& tracker, Metrics& metrics,
                   const PresenceConfig& config);
  ~PresenceReporter();
  PresenceReporter(const PresenceReporter&) = delete;
  PresenceReporter& operator=(const PresenceReporter&) = delete;

  void configure(const PresenceConfig& config);

 private:
  void report();
  void announce(const PresenceChange& change);  // the event and the webhook

  Hub& hub_;
  PresenceTracker& tracker_;
  Metrics& metrics_;
  PresenceWebhook webhook_;
  LoopWakeup wakeup_;
};

}  // namespace sidecar
