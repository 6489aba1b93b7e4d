// nghttp2's memory for one session: large blocks are mapped and stay non-resident until written
// (read back from the kernel with mincore), small ones come from malloc, and every kind of
// call keeps what the block held.
#include "sidecar/net/h2_memory.hpp"

#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

using namespace sidecar;

namespace {

// How many pages of [ptr, ptr + size) are resident.
std::size_t resident_pages(void* ptr, std::size_t size) {
  const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> vec((size + page - 1) / page);
  REQUIRE(mincore(ptr, size, vec.data()) == 0);
  std::size_t n = 0;
  for (unsigned char v : vec) n += v & 1;
  return n;
}

// nghttp2's outbound frame buffer: frame header, padding byte and the largest payload.
constexpr std::size_t kFrameBuffer = 9 + 1 + 16384;

}  // namespace

TEST_CASE("a frame buffer is mapped and only the pages written become resident") {
  H2Memory memory;
  nghttp2_mem* mem = memory.get();
  // As nghttp2_buf_init2 makes it: a realloc from null.
  auto* buf = static_cast<char*>(mem->realloc(nullptr, kFrameBuffer, mem->mem_user_data));
  REQUIRE(buf != nullptr);
  const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  CHECK(memory.mapped_bytes() == (kFrameBuffer + page - 1) / page * page);
  CHECK(resident_pages(buf, kFrameBuffer) == 0);
  std::memset(buf, 'x', 100);  // a SETTINGS frame and a response head
  CHECK(resident_pages(buf, kFrameBuffer) == 1);
  mem->free(buf, mem->mem_user_data);
  CHECK(memory.mapped_bytes() == 0);
}

TEST_CASE("small blocks come from malloc and are never mapped") {
  H2Memory memory;
  nghttp2_mem* mem = memory.get();
  void* small = mem->malloc(64, mem->mem_user_data);
  auto* zeroed = static_cast<unsigned char*>(mem->calloc(16, 16, mem->mem_user_data));
  REQUIRE(small != nullptr);
  REQUIRE(zeroed != nullptr);
  CHECK(memory.mapped_bytes() == 0);
  for (int i = 0; i < 256; ++i) CHECK(zeroed[i] == 0);
  // A small array grown past the mapping size stays with malloc, its bytes kept.
  std::memset(zeroed, 7, 256);
  zeroed =
      static_cast<unsigned char*>(mem->realloc(zeroed, std::size_t{64} * 1024, mem->mem_user_data));
  REQUIRE(zeroed != nullptr);
  CHECK(memory.mapped_bytes() == 0);
  CHECK(zeroed[0] == 7);
  CHECK(zeroed[255] == 7);
  mem->free(small, mem->mem_user_data);
  mem->free(zeroed, mem->mem_user_data);
  mem->free(nullptr, mem->mem_user_data);
}

TEST_CASE("a large calloc reads as zeros without touching a page") {
  H2Memory memory;
  nghttp2_mem* mem = memory.get();
  constexpr std::size_t kTable = std::size_t{1024} * 16;
  auto* table = static_cast<unsigned char*>(mem->calloc(1024, 16, mem->mem_user_data));
  REQUIRE(table != nullptr);
  CHECK(resident_pages(table, kTable) == 0);
  CHECK(memory.mapped_bytes() == kTable);
  CHECK(table[0] == 0);
  CHECK(table[kTable - 1] == 0);
  // An overflowing count is refused, as calloc refuses it.
  CHECK(mem->calloc(SIZE_MAX / 2, 4, mem->mem_user_data) == nullptr);
  mem->free(table, mem->mem_user_data);
  CHECK(memory.mapped_bytes() == 0);
}

TEST_CASE("a mapped block moved by realloc keeps its bytes, larger or smaller") {
  H2Memory memory;
  nghttp2_mem* mem = memory.get();
  auto* buf = static_cast<char*>(mem->malloc(kFrameBuffer, mem->mem_user_data));
  REQUIRE(buf != nullptr);
  std::memcpy(buf, "HEADERS", 7);
  buf[kFrameBuffer - 1] = 'z';
  // Grown, as nghttp2 grows a chain for a large head: still mapped, both ends kept.
  buf = static_cast<char*>(mem->realloc(buf, 2 * kFrameBuffer, mem->mem_user_data));
  REQUIRE(buf != nullptr);
  CHECK(std::memcmp(buf, "HEADERS", 7) == 0);
  CHECK(buf[kFrameBuffer - 1] == 'z');
  CHECK(memory.mapped_bytes() >= 2 * kFrameBuffer);
  // Shrunk below the mapping size: back to malloc, the head kept, nothing left mapped.
  buf = static_cast<char*>(mem->realloc(buf, 16, mem->mem_user_data));
  REQUIRE(buf != nullptr);
  CHECK(std::memcmp(buf, "HEADERS", 7) == 0);
  CHECK(memory.mapped_bytes() == 0);
  mem->free(buf, mem->mem_user_data);
}

TEST_CASE("whatever a session leaves mapped is unmapped with the memory") {
  void* left = nullptr;
  {
    H2Memory memory;
    nghttp2_mem* mem = memory.get();
    left = mem->malloc(kFrameBuffer, mem->mem_user_data);
    REQUIRE(left != nullptr);
    REQUIRE(mincore(left, kFrameBuffer, std::vector<unsigned char>(8).data()) == 0);
  }
  // The kernel no longer knows the range: mincore fails on memory that is not mapped.
  std::vector<unsigned char> vec(8);
  CHECK(mincore(left, kFrameBuffer, vec.data()) == -1);
  CHECK(errno == ENOMEM);
}

TEST_CASE("a block the kernel will not map comes from malloc instead") {
#if defined(__SANITIZE_ADDRESS__)
  // The sanitizer's allocator needs new mappings of its own, which the cap below would refuse.
  WARN("not run under AddressSanitizer");
  return;
#endif
  // In a child whose address space is capped at what it has mapped now, so that no new mapping
  // fits, while malloc still has the free heap it was given beforehand.
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    void* warm = std::malloc(std::size_t{256} * 1024);  // heap the cap leaves usable
    std::memset(warm, 1, std::size_t{256} * 1024);
    std::free(warm);
    std::ifstream status("/proc/self/status");
    std::string line;
    rlim_t size = 0;
    while (std::getline(status, line)) {
      if (line.rfind("VmSize:", 0) == 0) size = std::stoull(line.substr(7)) * 1024;
    }
    rlimit cap{size, size};
    if (size == 0 || setrlimit(RLIMIT_AS, &cap) != 0) _exit(2);
    void* probe =
        mmap(nullptr, kFrameBuffer, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (probe != MAP_FAILED) _exit(3);  // the cap did not take: nothing is shown
    H2Memory memory;
    nghttp2_mem* mem = memory.get();
    auto* buf = static_cast<char*>(mem->malloc(kFrameBuffer, mem->mem_user_data));
    if (!buf) _exit(4);
    std::memset(buf, 'x', kFrameBuffer);
    const bool from_malloc = memory.mapped_bytes() == 0;
    mem->free(buf, mem->mem_user_data);
    _exit(from_malloc ? 0 : 5);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
