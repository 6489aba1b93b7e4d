#include "sidecar/sse/event.hpp"

#include "sidecar/core/heap_cost.hpp"
#include "sidecar/sse/sse_format.hpp"

namespace sidecar {

Ref<Event> Event::create(EventId id, const EventDraft& draft, Clock::time_point published) {
  auto* event = new Event();
  event->id_ = id;
  event->topics_ = draft.topics;
  event->published_ = published;
  std::string frame;
  frame.reserve(draft.data.size() + draft.name.size() + 64);
  append_sse_event(frame, id.to_string(), draft.name, draft.data, draft.retry);
  event->set_frame(frame);
  return Ref<Event>(event);
}

Ref<Event> Event::restore(EventId id, std::vector<std::string> topics, std::string_view frame,
                          Clock::time_point published) {
  auto* event = new Event();
  event->id_ = id;
  event->topics_ = std::move(topics);
  event->published_ = published;
  event->set_frame(frame);
  return Ref<Event>(event);
}

std::size_t Event::memory() const {
  std::size_t total = heap_bytes(sizeof(Event)) + heap_bytes(wire_) +
                      heap_bytes(topics_.capacity() * sizeof(std::string));
  for (const auto& topic : topics_) total += heap_bytes(topic);
  return total;
}

void Event::set_frame(std::string_view frame) {
  // Both framings live in one buffer: HTTP/1.0 streams reference its middle.
  wire_.reserve(frame.size() + 24);
  append_chunk(wire_, frame);
  plain_offset_ = wire_.find("\r\n") + 2;
  plain_size_ = frame.size();
}

}  // namespace sidecar
