// The memory of one nghttp2 session: small blocks from malloc, large ones mapped from the kernel
// page by page, so that the pages nghttp2 never writes never become resident.
//
// Why: a session allocates its outbound frame buffer (16 KiB and a few bytes) when it is made
// and keeps it for its whole life. For SSE only its first page is ever written: SETTINGS,
// response heads and DATA frame headers are small, and DATA payloads go from the streams' queues
// straight to the socket (NGHTTP2_DATA_FLAG_NO_COPY). From malloc those 16 KiB come back
// resident (the arena's pages were touched by earlier connections); mapped, an idle HTTP/2
// connection keeps one page of them.
//
// Thread contract: used by one thread, the one using the session. It must outlive the session
// (nghttp2_session_del frees through it).
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <vector>

namespace sidecar {

class H2Memory {
 public:
  // Blocks of at least this size are mapped. Below it a mapping's page rounding would cost
  // more than it saves; only the frame buffer (and its rare extra chunks for a large head)
  // reaches it.
  static constexpr std::size_t kMapFrom = std::size_t{8} * 1024;

  H2Memory();
  H2Memory(const H2Memory&) = delete;
  H2Memory& operator=(const H2Memory&) = delete;
  ~H2Memory();  // unmaps whatever the session left mapped

  // For nghttp2_session_server_new3 (which copies the struct; its user data points here).
  nghttp2_mem* get() { return &mem_; }

  // Bytes mapped now, rounded to pages (resident or not).
  std::size_t mapped_bytes() const;

 private:
  struct Block {
    void* ptr;
    std::size_t size;  // as mapped: a whole number of pages
  };

  void* allocate(std::size_t size);
  void* allocate_zeroed(std::size_t count, std::size_t size);
  void* reallocate(void* ptr, std::size_t size);
  void release(void* ptr);
  void* map(std::size_t size);
  // The mapped block at `ptr`, or end() when `ptr` came from malloc.
  std::vector<Block>::iterator find(void* ptr);

  std::vector<Block> mapped_;  // a session has one or two at a time
  nghttp2_mem mem_{};
};

}  // namespace sidecar
