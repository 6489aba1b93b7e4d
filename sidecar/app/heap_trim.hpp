// Gives the allocator's free memory back to the system after a spike. glibc keeps what a burst
// freed (output queues, frame segments, history) in its arenas, so a process that once held a
// gigabyte for a second would stay a gigabyte resident; trimming at a quiet point returns it.
#pragma once

#include <cstddef>

namespace sidecar {

// Main loop, periodically. The floor is low so that a steady process stays steady: with one
// arena per thread, churn moves allocations between arenas (a connection reopened on another
// worker), and the arena it left keeps its holes until trimmed, which reads as a slow rise in
// resident memory with nothing more in use.
class HeapTrim {
 public:
  explicit HeapTrim(std::size_t floor) : floor_(floor) {}

  // Trims when the arenas' free bytes have grown by more than the floor, and by more than 1/32
  // of what is in use, since the last trim; cheap otherwise (it only reads the allocator's
  // totals). Counting from the last trim matters: free space inside pages still partly in use
  // cannot be returned, and would otherwise have every tick walk the heap for nothing; the
  // share keeps a large heap from being walked for small gains. Returns the free bytes found.
  std::size_t tick();

 private:
  const std::size_t floor_;
  std::size_t kept_ = 0;  // free bytes the last trim could not return
};

}  // namespace sidecar
