#include "sidecar/sse/event.hpp"

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
  // Both framings live in one buffer: HTTP/1.0 streams reference its middle.
  event->wire_.reserve(frame.size() + 24);
  append_chunk(event->wire_, frame);
  event->plain_offset_ = event->wire_.find("\r\n") + 2;
  event->plain_size_ = frame.size();
  return Ref<Event>(event);
}

}  // namespace sidecar
