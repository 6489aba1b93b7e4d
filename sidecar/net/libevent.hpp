// Owning handles for libevent objects: each C handle lives in a unique_ptr with its C deleter,
// so no path can leak or double-free it.
#pragma once

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include <chrono>
#include <memory>

#include "sidecar/core/c_deleter.hpp"

namespace sidecar {

// libevent takes timeouts as timevals.
inline timeval to_timeval(std::chrono::milliseconds ms) {
  return timeval{static_cast<time_t>(ms.count() / 1000),
                 static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

using EventBasePtr = std::unique_ptr<event_base, CDeleter<event_base_free>>;
using EventPtr = std::unique_ptr<event, CDeleter<event_free>>;
using EvBufferPtr = std::unique_ptr<evbuffer, CDeleter<evbuffer_free>>;
using BufferEventPtr = std::unique_ptr<bufferevent, CDeleter<bufferevent_free>>;
using ListenerPtr = std::unique_ptr<evconnlistener, CDeleter<evconnlistener_free>>;
using EvHttpPtr = std::unique_ptr<evhttp, CDeleter<evhttp_free>>;

// A file descriptor closed on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    reset(o.release());
    return *this;
  }
  ~UniqueFd() { reset(); }
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1);
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

}  // namespace sidecar
