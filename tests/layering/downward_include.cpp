// The control for upward_include.cpp: the stream layer sees every layer below it.
#include "sidecar/auth/access.hpp"
#include "sidecar/core/topic.hpp"
#include "sidecar/hub/hub.hpp"
#include "sidecar/net/libevent.hpp"
#include "sidecar/presence/presence_tracker.hpp"
#include "sidecar/sse/event.hpp"

int layering_downward_probe() {
  return 0;
}
