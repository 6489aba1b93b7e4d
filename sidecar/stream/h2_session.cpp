#include "sidecar/stream/h2_session.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "sidecar/net/transport_read.hpp"

namespace sidecar {
namespace {

// Reads per wakeup: a client that keeps sending (a flood) cannot hold the loop; the read event
// is made active again and the rest waits for the next turn.
constexpr int kReadsPerWakeup = 8;

}  // namespace

H2Session::Io H2Session::read_in(bool& protocol_error) {
  protocol_error = false;
  char buf[TlsSession::kMaxRecord];
  for (int reads = 0; reads < kReadsPerWakeup; ++reads) {
    std::size_t n = 0;
    switch (read_some(fd.get(), tls.get(), buf, sizeof(buf), n)) {
      case ReadResult::kData:
        break;
      case ReadResult::kEmpty:
        return Io::kOk;
      case ReadResult::kGone:
        return Io::kGone;
    }
    if (!h2->receive(buf, n)) {
      protocol_error = true;
      return Io::kGone;
    }
  }
  return Io::kMore;
}

H2Session::Io H2Session::send_bytes(const char* data, std::size_t size, std::size_t& n) {
  n = 0;
  while (n < size) {
    if (tls) {
      // A write that had to wait is retried with the same length (the bytes have not moved
      // from the front of what is left, though their address may have).
      std::size_t len =
          tls->pending_write ? tls->pending_write : std::min(TlsSession::kMaxRecord, size - n);
      std::size_t wrote = 0;
      switch (tls->write(data + n, len, wrote)) {
        case TlsSession::Status::kDone:
          n += wrote;
          continue;
        case TlsSession::Status::kWantWrite:
        case TlsSession::Status::kWantRead:
          return Io::kBlocked;
        case TlsSession::Status::kClosed:
        case TlsSession::Status::kFailed:
          return Io::kGone;
      }
    }
    ssize_t wrote = ::send(fd.get(), data + n, size - n, MSG_NOSIGNAL);
    if (wrote > 0) {
      n += static_cast<std::size_t>(wrote);
      continue;
    }
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Io::kBlocked;
    return Io::kGone;
  }
  return Io::kOk;
}

H2Session::Io H2Session::write_out(std::uint64_t& written) {
  if (write_armed) return Io::kBlocked;  // the write event continues when the socket drains
  // One per worker thread: the frames of every session it writes pass through it.
  static thread_local std::string scratch;
  auto blocked = [this] {
    write_armed = true;
    event_add(write_event.get(), nullptr);
    return Io::kBlocked;
  };
  for (;;) {
    if (!unsent.empty()) {
      std::size_t n = 0;
      Io io = send_bytes(unsent.data(), unsent.size(), n);
      written += n;
      unsent.erase(0, n);
      if (io == Io::kBlocked) return blocked();
      if (io == Io::kGone) return io;
      std::string().swap(unsent);  // its memory too: an idle connection keeps no buffer
    }
    scratch.clear();
    if (!h2->produce(scratch, kWriteChunk)) return Io::kGone;
    if (scratch.empty()) return Io::kOk;
    std::size_t n = 0;
    Io io = send_bytes(scratch.data(), scratch.size(), n);
    written += n;
    if (io != Io::kOk) {
      if (io == Io::kGone) return io;
      unsent.assign(scratch, n, std::string::npos);
      return blocked();
    }
  }
}

std::size_t H2Session::available(std::int32_t stream_id, bool& end) {
  auto it = streams.find(stream_id);
  if (it == streams.end()) {
    end = false;  // closed here and reset: its RST_STREAM goes first, nothing else
    return 0;
  }
  const StreamConn& c = *it->second;
  // Closing: its end is decided and its queue holds the last bytes it will get.
  end = c.state == StreamConn::State::kClosing;
  return c.out.bytes();
}

void H2Session::take(std::int32_t stream_id, char* dst, std::size_t n) {
  auto it = streams.find(stream_id);
  if (it == streams.end()) return;  // cannot be: available() said it had the bytes
  StreamConn& c = *it->second;
  c.out.peek(dst, n);
  c.out.consume(n);
  c.bytes_sent += n;
  stats->buffered_bytes.sub(n);
}

void H2Session::sent_reset(std::uint32_t error_code) {
  stats->h2_resets[std::min<std::size_t>(error_code, kH2ErrorNames - 1)].add();
}

void H2Session::sent_goaway(std::uint32_t error_code) {
  stats->h2_goaways[std::min<std::size_t>(error_code, kH2ErrorNames - 1)].add();
  // nghttp2 ends a connection that broke the protocol or flooded it (rapid reset) this way.
  if (error_code != NGHTTP2_NO_ERROR) {
    spdlog::info("HTTP/2 connection from {} ends with GOAWAY {}", peer, h2_error_name(error_code));
  }
}

}  // namespace sidecar
