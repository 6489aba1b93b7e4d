#include "sidecar/stream/stream_conn.hpp"

#include "sidecar/net/transport_read.hpp"
#include "sidecar/stream/h2_session.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace sidecar {

StreamProtocol StreamConn::protocol_kind() const {
  if (h2) return h2->tls ? StreamProtocol::kH2 : StreamProtocol::kH2c;
  return tls ? StreamProtocol::kH1Tls : StreamProtocol::kH1;
}

StreamConn::Io StreamConn::read_head(std::size_t limit) {
  char buf[4096];
  // Until the socket (or OpenSSL, which may hold a decrypted record) has nothing more: what is
  // left would otherwise wait for the next byte to arrive.
  while (in.size() <= limit) {
    std::size_t n = 0;
    switch (read_some(fd.get(), tls.get(), buf, sizeof(buf), n)) {
      case ReadResult::kData:
        in.append(buf, n);
        continue;
      case ReadResult::kEmpty:
        return Io::kOk;
      case ReadResult::kGone:
        return Io::kGone;
    }
  }
  return Io::kOk;  // enough to decide that it is too large
}

StreamConn::Io StreamConn::discard_input() {
  char buf[4096];
  for (int reads = 0; reads < 16; ++reads) {
    std::size_t n = 0;
    switch (read_some(fd.get(), tls.get(), buf, sizeof(buf), n)) {
      case ReadResult::kData:
        continue;
      case ReadResult::kEmpty:
        return Io::kOk;
      case ReadResult::kGone:
        return Io::kGone;
    }
  }
  return Io::kOk;
}

StreamConn::Io StreamConn::write_out(std::uint64_t& written) {
  if (write_armed) return Io::kBlocked;  // on_write continues when the socket drains
  if (tls) return write_out_tls(written);
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

StreamConn::Io StreamConn::write_out_tls(std::uint64_t& written) {
  // One per worker thread, not per connection: an idle TLS stream holds no write buffer.
  static thread_local char scratch[TlsSession::kMaxRecord];
  while (!out.empty()) {
    // A write that had to wait is retried with the same length: the bytes at the front of the
    // queue have not moved (only a finished write consumes them).
    std::size_t len =
        out.peek(scratch, tls->pending_write ? tls->pending_write : TlsSession::kMaxRecord);
    std::size_t n = 0;
    switch (tls->write(scratch, len, n)) {
      case TlsSession::Status::kDone:
        out.consume(n);
        bytes_sent += n;
        written += n;
        continue;
      case TlsSession::Status::kWantWrite:
      case TlsSession::Status::kWantRead:  // no renegotiation: in practice never on a write
        write_armed = true;
        event_add(write_event.get(), nullptr);
        return Io::kBlocked;
      case TlsSession::Status::kClosed:
      case TlsSession::Status::kFailed:
        return Io::kGone;
    }
  }
  return Io::kOk;
}

}  // namespace sidecar
