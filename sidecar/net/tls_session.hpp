// One TLS connection on a non-blocking socket: the handshake, then reads and writes of
// plaintext, each saying whether it must wait for the socket to become readable or writable.
// The socket stays owned by the caller; the session owns its SSL (which holds a reference to
// the context it was made from, so a reload does not pull it away).
//
// Thread contract: used by one thread (the worker owning the connection).
#pragma once

#include <openssl/ssl.h>

#include <cstddef>
#include <memory>
#include <string_view>

#include "sidecar/core/c_deleter.hpp"
#include "sidecar/core/tls_handshake_result.hpp"
#include "sidecar/net/tls_context.hpp"

namespace sidecar {

using SslPtr = std::unique_ptr<SSL, CDeleter<SSL_free>>;

class TlsSession {
 public:
  // The most plaintext one TLS record carries: writes gather up to this much into one record.
  static constexpr std::size_t kMaxRecord = std::size_t{16} * 1024;

  enum class Status : std::uint8_t {
    kDone,       // the step finished (for read/write: `n` bytes moved)
    kWantRead,   // wait until the socket is readable, then call the same step again
    kWantWrite,  // wait until the socket is writable, then call the same step again
    kClosed,     // the peer closed (close_notify or EOF)
    kFailed,     // protocol error or socket error: drop the connection
  };

  // Null when OpenSSL cannot allocate one.
  static std::unique_ptr<TlsSession> create(const TlsContext& context, int fd);

  Status handshake();
  // Why the handshake failed, after handshake() returned kClosed or kFailed.
  TlsHandshakeResult failure() const { return failure_; }

  Status read(char* buf, std::size_t size, std::size_t& n);
  // A write that returned kWantRead/kWantWrite must be retried with the same bytes and length
  // (they may sit at another address); `pending_write` remembers that length meanwhile.
  Status write(const char* buf, std::size_t size, std::size_t& n);
  std::size_t pending_write = 0;

  // Sends close_notify once, without waiting for the peer's.
  void shutdown();

  // The protocol ALPN chose ("" when the client offered none: HTTP/1.1 then).
  std::string_view alpn() const;

 private:
  explicit TlsSession(SslPtr ssl) : ssl_(std::move(ssl)) {}
  Status status_of(int ret);

  SslPtr ssl_;
  TlsHandshakeResult failure_ = TlsHandshakeResult::kOther;
};

}  // namespace sidecar
