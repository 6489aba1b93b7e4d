// The unsent bytes of one stream: a queue of slices of worker-local frame segments, written with
// one writev per flush.
//
// Why not an evbuffer: evbuffer_add_reference allocates a whole chain (about 1 KiB) per call, so
// a burst of small events to many streams held a kilobyte per pending delivery. Here a pending
// delivery is one 24-byte entry at most, and consecutive events of the same segment merge into
// one entry (a burst on one topic is one entry, and one iovec, per stream).
//
// Thread contract: owned by one stream on one worker thread.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "sidecar/stream/frame_segment.hpp"

namespace sidecar {

class OutputQueue {
 public:
  // What one queued slice costs besides its bytes; counted against the stream's bound.
  static constexpr std::size_t kEntryCost = 24;

  OutputQueue() = default;
  OutputQueue(const OutputQueue&) = delete;
  OutputQueue& operator=(const OutputQueue&) = delete;
  ~OutputQueue() { clear(); }

  // Queues `bytes`, which lie inside `segment` and hold `events` whole events; the segment is
  // held until they are written. REQUIRES: bytes.size() < 4 GiB.
  void append(FrameSegment& segment, std::string_view bytes, std::uint32_t events);
  // Queues a copy of `bytes` (stream head, notices, hints: one-off frames).
  void append_copy(std::string_view bytes);
  // Queues bytes of static storage duration (heartbeat, last chunk).
  void append_static(std::string_view bytes);

  bool empty() const { return bytes_ == 0; }
  std::size_t bytes() const { return bytes_; }
  // Events not yet written in full: what a stream that is dropped now never receives.
  std::size_t events() const { return events_; }
  // Bytes plus per-slice overhead: what this stream holds, as its buffer bound counts it.
  std::size_t cost() const { return bytes_ + (entries_.size() - head_) * kEntryCost; }

  // One writev of the queued slices (up to IOV_MAX of them). Returns what write(2) returns.
  ssize_t write_to(int fd);
  // For a transport that takes one buffer per write (TLS: one record): copies up to `size` of
  // the first unsent bytes to `buf`, leaving them queued; returns how many. The same call gives
  // the same bytes until consume() takes them.
  std::size_t peek(char* buf, std::size_t size) const;
  // Drops the first `n` unsent bytes, written by the caller. REQUIRES: n <= bytes().
  void consume(std::size_t n);
  // Drops everything queued and lets go of the segments.
  void clear();

 private:
  struct Entry {
    const char* data;
    std::uint32_t size;
    std::uint32_t events;  // whole events in the slice, still counted while partly written
    FrameSegment* owner;   // null for static bytes
  };
  void push(const char* data, std::size_t size, std::uint32_t events, FrameSegment* owner);

  std::vector<Entry> entries_;  // [head_, size) are unsent
  std::size_t head_ = 0;
  std::size_t bytes_ = 0;
  std::size_t events_ = 0;
};

}  // namespace sidecar
