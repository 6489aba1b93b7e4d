// Encoded frames shared by the streams of one worker: either the frames of several events laid
// out once, contiguously, or one event's own wire bytes.
//
// Thread contract: a segment belongs to the worker thread that made it, and only that thread
// retains or releases it. That is why its count is a plain integer: fan-out to ten thousand
// streams costs no atomic operation per stream, only the one EventRef a segment may hold.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "sidecar/sse/event.hpp"

namespace sidecar {

class FrameSegment {
 public:
  // A segment that owns `bytes` (frames laid out for fan-out, or a one-off frame).
  static FrameSegment* owning(std::string bytes);
  // A segment that shares `event`'s frame (HTTP/1.1 chunk or HTTP/1.0 plain) without copying.
  static FrameSegment* sharing(const Event& event, bool chunked);

  FrameSegment(const FrameSegment&) = delete;
  FrameSegment& operator=(const FrameSegment&) = delete;

  std::string_view bytes() const { return view_; }
  void retain() { ++refs_; }
  void release() {
    if (--refs_ == 0) delete this;
  }

 private:
  FrameSegment() = default;
  ~FrameSegment() = default;

  std::string owned_;
  EventRef event_;
  std::string_view view_;
  std::uint32_t refs_ = 0;
};

// Holds one reference for as long as it lives (a fan-out holds its segments while it runs).
class SegmentHold {
 public:
  SegmentHold() = default;
  explicit SegmentHold(FrameSegment* segment) : s_(segment) {
    if (s_) s_->retain();
  }
  SegmentHold(SegmentHold&& other) noexcept : s_(other.s_) { other.s_ = nullptr; }
  SegmentHold& operator=(SegmentHold&& other) noexcept {
    if (this != &other) {
      if (s_) s_->release();
      s_ = other.s_;
      other.s_ = nullptr;
    }
    return *this;
  }
  SegmentHold(const SegmentHold&) = delete;
  SegmentHold& operator=(const SegmentHold&) = delete;
  ~SegmentHold() {
    if (s_) s_->release();
  }
  FrameSegment* get() const { return s_; }

 private:
  FrameSegment* s_ = nullptr;
};

}  // namespace sidecar
