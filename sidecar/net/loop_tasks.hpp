// Work other threads hand to one event loop: a queue of functions and one wakeup, drained on
// the loop's thread in the order they were posted.
//
// Thread contract: post() from any thread; the functions run on the loop's thread. Must be
// destroyed before its event_base; functions still queued then are dropped without running.
#pragma once

#include <functional>
#include <mutex>
#include <vector>

#include "sidecar/net/loop_wakeup.hpp"

namespace sidecar {

class LoopTasks {
 public:
  using Task = std::function<void()>;

  explicit LoopTasks(event_base* base);
  LoopTasks(const LoopTasks&) = delete;
  LoopTasks& operator=(const LoopTasks&) = delete;

  void post(Task task);

 private:
  void run();

  std::mutex mutex_;
  std::vector<Task> tasks_;  // GUARDED_BY(mutex_)
  LoopWakeup wakeup_;
};

}  // namespace sidecar
