// What a heap allocation really takes, for bounds that must hold in resident memory and not
// only in payload bytes (a 2 KiB event kept for one topic cost about 3 KiB before history
// counted its containers).
//
// The model is glibc's malloc on 64-bit Linux: a chunk is the request plus an 8-byte header,
// rounded up to 16 bytes, and at least 32; large requests are served by mmap, in whole pages.
// Other allocators differ by a few bytes per block, which the bounds using this absorb.
#pragma once

#include <cstddef>
#include <string>

namespace sidecar {

constexpr std::size_t heap_bytes(std::size_t request) {
  if (request == 0) return 0;
  constexpr std::size_t kMmapThreshold =
      std::size_t{128} * 1024;  // glibc's default M_MMAP_THRESHOLD
  if (request >= kMmapThreshold) return (request + 16 + 4095) / 4096 * 4096;
  std::size_t chunk = (request + 8 + 15) / 16 * 16;
  return chunk < 32 ? 32 : chunk;
}

// The heap block behind a std::string: none while its text fits in the object itself.
inline std::size_t heap_bytes(const std::string& s) {
  const char* self = reinterpret_cast<const char*>(&s);
  constexpr std::size_t kObject = sizeof(std::string);
  bool inline_text = s.data() >= self && s.data() < self + kObject;
  return inline_text ? 0 : heap_bytes(s.capacity() + 1);
}

}  // namespace sidecar
