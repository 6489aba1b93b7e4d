// Gives the allocator's free memory back to the system after a spike. glibc keeps what a burst
// freed (output queues, frame segments, history) in its arenas, so a process that once held a
// gigabyte for a second would stay a gigabyte resident; trimming at a quiet point returns it.
#pragma once

#include <cstddef>

namespace sidecar {

// Trims when the arenas hold more free bytes than `floor` and than 1/32 of what is in use; cheap
// otherwise (it only reads the allocator's totals). The share keeps a large heap from being
// walked every tick; the floor, low, keeps a steady process steady: with one arena per thread,
// churn moves allocations between arenas (a connection reopened on another worker), and the
// arena it left keeps its holes until trimmed, which reads as a slow rise in resident memory
// with nothing more in use. Returns the free bytes it found. Main loop, periodically.
std::size_t trim_free_heap(std::size_t floor);

}  // namespace sidecar
