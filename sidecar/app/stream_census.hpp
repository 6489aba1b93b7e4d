// GET /streams gathered from every stream worker: the request is posted to each worker, which
// lists its own streams on its own thread; the answers are merged and handed back on the main
// loop once the last worker has answered. No worker state is ever read from the main thread.
//
// Thread contract: list() and its `done` on the main loop. Must outlive the workers (tasks
// they still hold refer to it).
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "sidecar/core/stream_listing.hpp"
#include "sidecar/net/loop_tasks.hpp"
#include "sidecar/stream/worker.hpp"

namespace sidecar {

class StreamCensus {
 public:
  using Done = std::function<void(StreamListing)>;

  StreamCensus(event_base* main_loop, const std::vector<std::unique_ptr<Worker>>& workers)
      : workers_(workers), back_(main_loop) {}
  StreamCensus(const StreamCensus&) = delete;
  StreamCensus& operator=(const StreamCensus&) = delete;

  // `done` runs once every worker has answered (never, should the workers stop first).
  void list(StreamFilter filter, Done done);

 private:
  const std::vector<std::unique_ptr<Worker>>& workers_;
  LoopTasks back_;
};

}  // namespace sidecar
