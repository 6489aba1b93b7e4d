#include "sidecar/net/libevent.hpp"

#include <unistd.h>

namespace sidecar {

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

}  // namespace sidecar
