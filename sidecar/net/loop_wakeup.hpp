// Wakes an event loop from another thread: an eventfd the loop watches. Threads hand work to a
// loop through a queue of their own plus notify(); the loop's callback then drains the queue.
//
// Thread contract: notify() from any thread; the callback runs on the loop's thread. Must be
// destroyed before its event_base.
#pragma once

#include <functional>

#include "sidecar/net/libevent.hpp"

namespace sidecar {

class LoopWakeup {
 public:
  // Throws std::runtime_error when the eventfd cannot be created (startup only).
  LoopWakeup(event_base* base, std::function<void()> on_wake);
  LoopWakeup(const LoopWakeup&) = delete;
  LoopWakeup& operator=(const LoopWakeup&) = delete;

  // Any thread. Wakeups before the callback runs merge into one.
  void notify();

 private:
  static void on_ready(evutil_socket_t fd, short, void* self);

  std::function<void()> on_wake_;
  UniqueFd fd_;
  EventPtr event_;
};

}  // namespace sidecar
