// Gives the allocator's free memory back to the system after a spike. glibc keeps what a burst
// freed (output queues, frame segments, history) in its arenas, so a process that once held a
// gigabyte for a second would stay a gigabyte resident; trimming at a quiet point returns it.
#pragma once

#include <cstddef>

namespace sidecar {

// Trims when the arenas hold more than `threshold` bytes that are free; cheap otherwise (it only
// reads the allocator's totals). Returns the free bytes it found. Main loop, periodically.
std::size_t trim_free_heap(std::size_t threshold);

}  // namespace sidecar
