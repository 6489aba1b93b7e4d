#include "sidecar/net/transport_read.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace sidecar {

ReadResult read_some(int fd, TlsSession* tls, char* buf, std::size_t size, std::size_t& n) {
  n = 0;
  if (tls) {
    switch (tls->read(buf, size, n)) {
      case TlsSession::Status::kDone:
        return ReadResult::kData;
      case TlsSession::Status::kWantRead:
      case TlsSession::Status::kWantWrite:
        return ReadResult::kEmpty;
      case TlsSession::Status::kClosed:
      case TlsSession::Status::kFailed:
        return ReadResult::kGone;
    }
    return ReadResult::kGone;
  }
  for (;;) {
    ssize_t got = ::recv(fd, buf, size, 0);
    if (got > 0) {
      n = static_cast<std::size_t>(got);
      return ReadResult::kData;
    }
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return ReadResult::kEmpty;
    return ReadResult::kGone;
  }
}

}  // namespace sidecar
