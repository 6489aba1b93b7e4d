#include "sidecar/net/h2_memory.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace sidecar {
namespace {

std::size_t page_size() {
  static const std::size_t size = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

H2Memory& self(void* user_data) {
  return *static_cast<H2Memory*>(user_data);
}

}  // namespace

H2Memory::H2Memory() {
  mem_.mem_user_data = this;
  mem_.malloc = [](std::size_t size, void* ud) { return self(ud).allocate(size); };
  mem_.free = [](void* ptr, void* ud) { self(ud).release(ptr); };
  mem_.calloc = [](std::size_t count, std::size_t size, void* ud) {
    return self(ud).allocate_zeroed(count, size);
  };
  mem_.realloc = [](void* ptr, std::size_t size, void* ud) {
    return self(ud).reallocate(ptr, size);
  };
}

H2Memory::~H2Memory() {
  for (const Block& b : mapped_) munmap(b.ptr, b.size);
}

std::size_t H2Memory::mapped_bytes() const {
  std::size_t total = 0;
  for (const Block& b : mapped_) total += b.size;
  return total;
}

void* H2Memory::map(std::size_t size) {
  const std::size_t pages = (size + page_size() - 1) / page_size() * page_size();
  void* p = mmap(nullptr, pages, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  // Out of mappings (vm.max_map_count: with very many connections and no neighbouring mapping
  // to merge with) or of memory: the caller takes the block from malloc instead.
  if (p == MAP_FAILED) return nullptr;
  mapped_.push_back({p, pages});
  return p;
}

void* H2Memory::allocate(std::size_t size) {
  void* mapped = size >= kMapFrom ? map(size) : nullptr;
  return mapped ? mapped : std::malloc(size);
}

void* H2Memory::allocate_zeroed(std::size_t count, std::size_t size) {
  if (size != 0 && count > SIZE_MAX / size) return nullptr;
  // A fresh mapping reads as zeros already, without a page being touched.
  void* mapped = count * size >= kMapFrom ? map(count * size) : nullptr;
  return mapped ? mapped : std::calloc(count, size);
}

std::vector<H2Memory::Block>::iterator H2Memory::find(void* ptr) {
  return std::find_if(mapped_.begin(), mapped_.end(),
                      [ptr](const Block& b) { return b.ptr == ptr; });
}

void* H2Memory::reallocate(void* ptr, std::size_t size) {
  // nghttp2 makes its buffers this way too, the frame buffer among them (from null).
  if (!ptr) return allocate(size);
  auto it = find(ptr);
  if (it == mapped_.end()) {
    // It grows small arrays this way (its queues, a header's name and value): they stay with
    // malloc whatever their size.
    return std::realloc(ptr, size);
  }
  const std::size_t old_size = it->size;
  void* moved = allocate(size);  // may push to mapped_: `it` is stale after this
  if (!moved) return nullptr;    // as realloc: the old block stays valid
  std::memcpy(moved, ptr, std::min(old_size, size));
  release(ptr);
  return moved;
}

void H2Memory::release(void* ptr) {
  if (!ptr) return;
  auto it = find(ptr);
  if (it == mapped_.end()) {
    std::free(ptr);
    return;
  }
  munmap(it->ptr, it->size);
  mapped_.erase(it);
}

}  // namespace sidecar
