#include "sidecar/app/stream_census.hpp"

#include <mutex>

namespace sidecar {

void StreamCensus::list(StreamFilter filter, Done done) {
  // Shared by the workers' answers; the last one to answer sends it back to the main loop.
  struct Gathering {
    std::mutex mutex;
    std::vector<StreamListing> parts;  // GUARDED_BY(mutex)
    std::size_t waiting = 0;           // GUARDED_BY(mutex)
    StreamFilter filter;
    Done done;
  };
  auto gathering = std::make_shared<Gathering>();
  gathering->waiting = workers_.size();
  gathering->filter = std::move(filter);
  gathering->done = std::move(done);
  if (workers_.empty()) {
    return gathering->done(StreamListing{});
  }
  for (const auto& worker : workers_) {
    worker->post([this, gathering](Worker& w) {
      StreamListing mine = w.list_streams(gathering->filter);
      std::lock_guard lock(gathering->mutex);
      gathering->parts.push_back(std::move(mine));
      if (--gathering->waiting > 0) return;
      // Moved into the task: `done` belongs to the main loop (it holds an HTTP request), so
      // it must not be destroyed with the gathering, which may happen on this thread.
      auto parts = std::make_shared<std::vector<StreamListing>>(std::move(gathering->parts));
      back_.post([parts, limit = gathering->filter.limit, done = std::move(gathering->done)] {
        done(merge_stream_listings(std::move(*parts), limit));
      });
    });
  }
}

}  // namespace sidecar
