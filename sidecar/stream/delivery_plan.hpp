// The events a worker delivers in one loop turn (every batch it was handed since the last),
// grouped by topic. A topic's frames are laid out once per framing (HTTP/1.1 chunks, HTTP/1.0
// plain) in one segment that all of the worker's streams share, so a stream on one topic takes
// one slice of it however many events it holds: one queue entry and one iovec per stream.
//
// Thread contract: built and used on one worker thread, for one delivery.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sidecar/core/string_map.hpp"
#include "sidecar/hub/hub.hpp"
#include "sidecar/stream/frame_segment.hpp"

namespace sidecar {

class DeliveryPlan {
 public:
  // Frames of consecutive events of one run, inside one segment.
  struct Slice {
    FrameSegment* segment = nullptr;  // null when nothing is left to send
    std::string_view bytes;
    std::size_t events = 0;
    std::uint64_t last_seq = 0;  // seq of the newest event in the slice
  };
  // Where one of an event's topics put it: its run, and its position in that run.
  struct Place {
    std::uint32_t run;
    std::uint32_t pos;
  };
  struct Entry {
    const Event* event;
    std::vector<Place> places;  // parallel to event->topics()
  };

  explicit DeliveryPlan(const std::vector<std::shared_ptr<const EventBatch>>& batches);
  // Adds a batch that arrived while the plan was being delivered: streams not served yet take
  // it in the same write as the rest. Slices handed out before stay valid (their segments are
  // held by whoever queued them); later ones come from a new layout with every event.
  void extend(std::shared_ptr<const EventBatch> batch);
  DeliveryPlan(const DeliveryPlan&) = delete;
  DeliveryPlan& operator=(const DeliveryPlan&) = delete;

  std::size_t runs() const { return runs_.size(); }
  const std::string& topic(std::size_t run) const { return runs_[run].topic; }
  // Every event, in commit order.
  const std::vector<Entry>& events() const { return events_; }

  // The frames of `run`'s events newer than `after_seq`, as one slice: as many of them as fit
  // in `max_bytes`, and at least one (a stream's bound may be crossed by one event, never
  // by a whole delivery).
  Slice tail(std::size_t run, bool chunked, std::uint64_t after_seq,
             std::size_t max_bytes = SIZE_MAX);
  // The frame of the event at `pos` in `run`.
  Slice one(std::size_t run, std::size_t pos, bool chunked);

 private:
  struct Layout {
    SegmentHold segment;
    std::vector<std::size_t> ends;  // end offset of each event's frame in the segment
  };
  struct Run {
    std::string topic;
    std::vector<const Event*> events;  // in commit order
    Layout layout[2];                  // [0] plain, [1] chunked; laid out on first use
  };
  Layout& layout(Run& run, bool chunked);
  Slice slice(Run& run, bool chunked, std::size_t from, std::size_t to);

  std::vector<std::shared_ptr<const EventBatch>> batches_;  // keep the events alive
  std::vector<Run> runs_;
  StringMap<std::uint32_t> run_of_;  // topic -> index in runs_
  std::vector<Entry> events_;
};

}  // namespace sidecar
