// A topic's retained events, oldest first: a ring of references that grows by doubling and
// shrinks when mostly empty. It replaces a std::deque, which allocates a 512-byte block and a
// block map even for one element: with one event per topic (a per-user topic scheme) that
// overhead was a quarter of what history held.
//
// Not thread-safe; History guards it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "sidecar/sse/event.hpp"

namespace sidecar {

class EventRing {
 public:
  EventRing() = default;
  EventRing(EventRing&&) noexcept = default;
  EventRing& operator=(EventRing&&) noexcept = default;
  EventRing(const EventRing&) = delete;
  EventRing& operator=(const EventRing&) = delete;

  bool empty() const { return size_ == 0; }
  std::size_t size() const { return size_; }
  // REQUIRES: i < size(); 0 is the oldest.
  const EventRef& operator[](std::size_t i) const { return slots_[(head_ + i) & (capacity_ - 1)]; }
  const EventRef& front() const { return (*this)[0]; }
  const EventRef& back() const { return (*this)[size_ - 1]; }

  void push_back(EventRef event);
  // REQUIRES: !empty().
  EventRef pop_front();
  // The position of the first event with a seq above `seq` (size() when none): events are in
  // id order, so a resume skips what its client has by binary search.
  std::size_t first_after(std::uint64_t seq) const;
  // The heap block of the slots, as the allocator charges it.
  std::size_t heap_bytes() const;

 private:
  void reallocate(std::uint32_t capacity);

  std::unique_ptr<EventRef[]> slots_;
  std::uint32_t head_ = 0;
  std::uint32_t size_ = 0;
  std::uint32_t capacity_ = 0;  // 0 or a power of two
};

}  // namespace sidecar
