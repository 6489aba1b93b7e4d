#include "sidecar/net/loop_tasks.hpp"

namespace sidecar {

LoopTasks::LoopTasks(event_base* base) : wakeup_(base, [this] { run(); }) {}

void LoopTasks::post(Task task) {
  bool was_empty;
  {
    std::lock_guard lock(mutex_);
    was_empty = tasks_.empty();
    tasks_.push_back(std::move(task));
  }
  // Only the first task since the loop last drained the queue needs a wakeup.
  if (was_empty) wakeup_.notify();
}

void LoopTasks::run() {
  std::vector<Task> tasks;
  {
    std::lock_guard lock(mutex_);
    tasks.swap(tasks_);
  }
  for (auto& task : tasks) task();
}

}  // namespace sidecar
