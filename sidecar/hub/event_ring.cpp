#include "sidecar/hub/event_ring.hpp"

#include <utility>

#include "sidecar/core/heap_cost.hpp"

namespace sidecar {

void EventRing::push_back(EventRef event) {
  if (size_ == capacity_) reallocate(capacity_ == 0 ? 1 : capacity_ * 2);
  slots_[(head_ + size_) & (capacity_ - 1)] = std::move(event);
  ++size_;
}

EventRef EventRing::pop_front() {
  EventRef out = std::move(slots_[head_]);
  head_ = (head_ + 1) & (capacity_ - 1);
  --size_;
  // Halved only below a quarter full, so a topic that hovers at a size never reallocates on
  // every event; an empty ring holds no block at all.
  if (size_ == 0) {
    reallocate(0);
  } else if (size_ < capacity_ / 4) {
    reallocate(capacity_ / 2);
  }
  return out;
}

std::size_t EventRing::first_after(std::uint64_t seq) const {
  std::size_t lo = 0;
  std::size_t hi = size_;
  while (lo < hi) {
    std::size_t mid = lo + (hi - lo) / 2;
    if ((*this)[mid]->id().seq <= seq) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

std::size_t EventRing::heap_bytes() const {
  // new[] of a type with a destructor stores the element count in front of the elements.
  return capacity_ == 0 ? 0
                        : sidecar::heap_bytes(capacity_ * sizeof(EventRef) + sizeof(std::size_t));
}

void EventRing::reallocate(std::uint32_t capacity) {
  std::unique_ptr<EventRef[]> slots;
  if (capacity > 0) {
    slots = std::make_unique<EventRef[]>(capacity);
    for (std::uint32_t i = 0; i < size_; ++i) {
      slots[i] = std::move(slots_[(head_ + i) & (capacity_ - 1)]);
    }
  }
  slots_ = std::move(slots);
  head_ = 0;
  capacity_ = capacity;
}

}  // namespace sidecar
