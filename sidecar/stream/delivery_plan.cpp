#include "sidecar/stream/delivery_plan.hpp"

#include <algorithm>

namespace sidecar {

DeliveryPlan::DeliveryPlan(const std::vector<std::shared_ptr<const EventBatch>>& batches) {
  for (const auto& batch : batches) extend(batch);
}

void DeliveryPlan::extend(std::shared_ptr<const EventBatch> batch) {
  for (const auto& ref : *batch) {
    const Event& e = *ref;
    Entry entry{&e, {}};
    entry.places.reserve(e.topics().size());
    for (const auto& topic : e.topics()) {
      auto [it, added] = run_of_.try_emplace(topic, static_cast<std::uint32_t>(runs_.size()));
      if (added) runs_.push_back(Run{topic, {}, {}});
      Run& run = runs_[it->second];
      entry.places.push_back(Place{it->second, static_cast<std::uint32_t>(run.events.size())});
      run.events.push_back(&e);
      for (Layout& l : run.layout) l = Layout{};  // laid out again, with this event, when needed
    }
    events_.push_back(std::move(entry));
  }
  batches_.push_back(std::move(batch));
}

DeliveryPlan::Layout& DeliveryPlan::layout(Run& run, bool chunked) {
  Layout& l = run.layout[chunked ? 1 : 0];
  if (l.segment.get()) return l;
  auto frame = [chunked](const Event* e) { return chunked ? e->chunked() : e->plain(); };
  if (run.events.size() == 1) {
    // One event: share its own bytes, one reference for the whole worker.
    l.segment = SegmentHold(FrameSegment::sharing(*run.events[0], chunked));
    l.ends.push_back(frame(run.events[0]).size());
    return l;
  }
  // Several: one copy per worker, so that every stream on the topic takes them in one slice.
  std::size_t total = 0;
  for (const Event* e : run.events) total += frame(e).size();
  std::string bytes;
  bytes.reserve(total);
  l.ends.reserve(run.events.size());
  for (const Event* e : run.events) {
    bytes += frame(e);
    l.ends.push_back(bytes.size());
  }
  l.segment = SegmentHold(FrameSegment::owning(std::move(bytes)));
  return l;
}

DeliveryPlan::Slice DeliveryPlan::slice(Run& run, bool chunked, std::size_t from, std::size_t to) {
  if (from >= to) return {};
  Layout& l = layout(run, chunked);
  std::size_t begin = from == 0 ? 0 : l.ends[from - 1];
  Slice s;
  s.segment = l.segment.get();
  s.bytes = s.segment->bytes().substr(begin, l.ends[to - 1] - begin);
  s.events = to - from;
  s.last_seq = run.events[to - 1]->id().seq;
  return s;
}

DeliveryPlan::Slice DeliveryPlan::tail(std::size_t run, bool chunked, std::uint64_t after_seq,
                                       std::size_t max_bytes) {
  Run& r = runs_[run];
  auto first = std::partition_point(r.events.begin(), r.events.end(), [after_seq](const Event* e) {
    return e->id().seq <= after_seq;
  });
  auto from = static_cast<std::size_t>(first - r.events.begin());
  if (from == r.events.size()) return {};
  const Layout& l = layout(r, chunked);
  std::size_t begin = from == 0 ? 0 : l.ends[from - 1];
  std::size_t limit = max_bytes > SIZE_MAX - begin ? SIZE_MAX : begin + max_bytes;
  // Events [from, to) end within the limit; the first one always goes.
  auto past =
      std::upper_bound(l.ends.begin() + static_cast<std::ptrdiff_t>(from), l.ends.end(), limit);
  auto to = std::max(from + 1, static_cast<std::size_t>(past - l.ends.begin()));
  return slice(r, chunked, from, to);
}

DeliveryPlan::Slice DeliveryPlan::one(std::size_t run, std::size_t pos, bool chunked) {
  return slice(runs_[run], chunked, pos, pos + 1);
}

}  // namespace sidecar
