#include "sidecar/app/heap_trim.hpp"

#include <malloc.h>

namespace sidecar {

std::size_t trim_free_heap(std::size_t floor) {
  struct mallinfo2 info = mallinfo2();
  // fordblks: free bytes in the arenas' chunks, including what is not at the top of a heap
  // (malloc_trim also releases those pages, with madvise); uordblks: bytes in use.
  if (info.fordblks > floor && info.fordblks > info.uordblks / 32) malloc_trim(0);
  return info.fordblks;
}

}  // namespace sidecar
