#include "sidecar/net/loop_wakeup.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <stdexcept>

namespace sidecar {

LoopWakeup::LoopWakeup(event_base* base, std::function<void()> on_wake)
    : on_wake_(std::move(on_wake)), fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (!fd_) throw std::runtime_error("cannot create an eventfd");
  event_.reset(event_new(base, fd_.get(), EV_READ | EV_PERSIST, &on_ready, this));
  event_add(event_.get(), nullptr);
}

void LoopWakeup::notify() {
  std::uint64_t one = 1;
  // Cannot fail short of a counter overflow, which would still leave the fd readable.
  [[maybe_unused]] auto n = ::write(fd_.get(), &one, sizeof(one));
}

void LoopWakeup::on_ready(evutil_socket_t fd, short, void* self) {
  std::uint64_t count;
  [[maybe_unused]] auto n = ::read(fd, &count, sizeof(count));
  static_cast<LoopWakeup*>(self)->on_wake_();
}

}  // namespace sidecar
