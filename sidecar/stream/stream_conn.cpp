#include "sidecar/stream/stream_conn.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace sidecar {

StreamConn::Io StreamConn::read_head(std::size_t limit) {
  char buf[4096];
  while (in.size() <= limit) {
    ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
    if (n > 0) {
      in.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Io::kOk;
    return Io::kGone;
  }
  return Io::kOk;  // enough to decide that it is too large
}

StreamConn::Io StreamConn::discard_input() {
  char buf[4096];
  for (int reads = 0; reads < 16; ++reads) {
    ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
    if (n > 0) continue;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Io::kOk;
    return Io::kGone;
  }
  return Io::kOk;
}

StreamConn::Io StreamConn::write_out(std::uint64_t& written) {
  if (write_armed) return Io::kBlocked;  // on_write continues when the socket drains
  while (!out.empty()) {
    ssize_t n = out.write_to(fd.get());
    if (n > 0) {
      bytes_sent += static_cast<std::uint64_t>(n);
      written += static_cast<std::uint64_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      write_armed = true;
      event_add(write_event.get(), nullptr);
      return Io::kBlocked;
    }
    return Io::kGone;
  }
  return Io::kOk;
}

}  // namespace sidecar
