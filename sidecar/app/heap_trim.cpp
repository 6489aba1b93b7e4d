#include "sidecar/app/heap_trim.hpp"

#include <malloc.h>

namespace sidecar {

std::size_t HeapTrim::tick() {
  struct mallinfo2 info = mallinfo2();
  // fordblks: free bytes in the arenas' chunks, including what is not at the top of a heap
  // (malloc_trim also releases those pages, with madvise); uordblks: bytes in use.
  std::size_t free = info.fordblks;
  if (free < kept_) kept_ = free;  // reused since: count growth from what is left
  std::size_t grown = free - kept_;
  if (grown > floor_ && grown > info.uordblks / 32) {
    malloc_trim(0);
    kept_ = mallinfo2().fordblks;
  }
  return free;
}

}  // namespace sidecar
