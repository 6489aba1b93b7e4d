#include "sidecar/stream/frame_segment.hpp"

namespace sidecar {

FrameSegment* FrameSegment::owning(std::string bytes) {
  auto* s = new FrameSegment();
  s->owned_ = std::move(bytes);
  s->view_ = s->owned_;
  return s;
}

FrameSegment* FrameSegment::sharing(const Event& event, bool chunked) {
  auto* s = new FrameSegment();
  s->event_ = EventRef(&event);
  s->view_ = chunked ? event.chunked() : event.plain();
  return s;
}

}  // namespace sidecar
