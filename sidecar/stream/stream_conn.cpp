#include "sidecar/stream/stream_conn.hpp"

#include "sidecar/stream/h2_session.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace sidecar {

namespace {

// The most plaintext one TLS record carries.
constexpr std::size_t kTlsRecord = std::size_t{16} * 1024;

}  // namespace

StreamProtocol StreamConn::protocol_kind() const {
  if (h2) return h2->tls ? StreamProtocol::kH2 : StreamProtocol::kH2c;
  return tls ? StreamProtocol::kH1Tls : StreamProtocol::kH1;
}

StreamConn::Io StreamConn::read_head(std::size_t limit) {
  if (tls) return read_head_tls(limit);
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
  if (tls) return discard_input_tls();
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

StreamConn::Io StreamConn::read_head_tls(std::size_t limit) {
  char buf[4096];
  // Until OpenSSL wants more from the socket: a record it decrypted and still holds would
  // otherwise wait for the next byte to arrive.
  while (in.size() <= limit) {
    std::size_t n = 0;
    switch (tls->read(buf, sizeof(buf), n)) {
      case TlsSession::Status::kDone:
        in.append(buf, n);
        continue;
      case TlsSession::Status::kWantRead:
      case TlsSession::Status::kWantWrite:  // a key update owed; it leaves with the next write
        return Io::kOk;
      case TlsSession::Status::kClosed:
      case TlsSession::Status::kFailed:
        return Io::kGone;
    }
  }
  return Io::kOk;
}

StreamConn::Io StreamConn::discard_input_tls() {
  char buf[4096];
  for (int reads = 0; reads < 16; ++reads) {
    std::size_t n = 0;
    switch (tls->read(buf, sizeof(buf), n)) {
      case TlsSession::Status::kDone:
        continue;
      case TlsSession::Status::kWantRead:
      case TlsSession::Status::kWantWrite:
        return Io::kOk;
      case TlsSession::Status::kClosed:
      case TlsSession::Status::kFailed:
        return Io::kGone;
    }
  }
  return Io::kOk;
}

StreamConn::Io StreamConn::write_out_tls(std::uint64_t& written) {
  // One per worker thread, not per connection: an idle TLS stream holds no write buffer.
  static thread_local char scratch[kTlsRecord];
  while (!out.empty()) {
    // A write that had to wait is retried with the same length: the bytes at the front of the
    // queue have not moved (only a finished write consumes them).
    std::size_t len = out.peek(scratch, tls->pending_write ? tls->pending_write : kTlsRecord);
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
