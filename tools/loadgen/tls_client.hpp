// The client side of TLS for the subscribers: one context shared by every connection (what to
// trust, the name the certificate must carry, the protocols offered through ALPN), and one
// non-blocking session per connection, driven by the fleet's event loop like its plain sockets.
//
// Ownership: TlsClientContext owns its SSL_CTX, TlsClient its SSL (which holds a reference to the
// SSL_CTX, so the context may go first). The socket stays the caller's.
// Thread contract: one thread (the fleet's loop).
#pragma once

#include <openssl/ssl.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sidecar/core/c_deleter.hpp"

namespace loadgen {

using SslCtxPtr = std::unique_ptr<SSL_CTX, sidecar::CDeleter<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, sidecar::CDeleter<SSL_free>>;

struct TlsClientOptions {
  std::string host;       // the URL's host: checked against the certificate, sent as SNI if a name
  std::string ca_file;    // PEM file of the CAs to trust; "" = the system's trust store
  bool insecure = false;  // accept any certificate, unverified
  std::vector<std::string> alpn;  // protocols offered, in order of preference
};

class TlsClientContext {
 public:
  // Null, with `error` naming what to fix, when the CA file cannot be read.
  static std::unique_ptr<TlsClientContext> create(const TlsClientOptions& options,
                                                  std::string& error);

  SSL_CTX* get() const { return ctx_.get(); }
  // The SNI host name: "" when the host is an IP address (RFC 6066 3 allows names only).
  const std::string& server_name() const { return server_name_; }

 private:
  TlsClientContext(SslCtxPtr ctx, std::string server_name)
      : ctx_(std::move(ctx)), server_name_(std::move(server_name)) {}

  SslCtxPtr ctx_;
  std::string server_name_;
};

// One connection's session: 8 bytes when unused, so plain connections pay nothing for it.
class TlsClient {
 public:
  enum class Status : uint8_t {
    kDone,       // the step finished (read/write: `n` bytes moved)
    kWantRead,   // wait until the socket is readable, then call the same step again
    kWantWrite,  // wait until the socket is writable, then call the same step again
    kClosed,     // the server closed the connection (close_notify or EOF)
    kFailed,     // a TLS or socket error, described in `error`: drop the connection
  };

  // False when OpenSSL cannot allocate the session.
  bool start(const TlsClientContext& context, int fd);
  void reset() { ssl_.reset(); }
  explicit operator bool() const { return ssl_ != nullptr; }

  // The `error` texts are short and the same for every connection failing the same way, so that
  // the fleet can count them as reasons: "certificate verify failed: self-signed certificate".
  Status handshake(std::string& error);
  // At most one record's plaintext per call; call until kWantRead to drain the socket.
  Status read(char* buf, size_t size, size_t& n, std::string& error);
  // A write that returned kWantRead or kWantWrite must be retried with the same bytes, at least
  // as many (they may have moved: SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER).
  Status write(const char* buf, size_t size, size_t& n, std::string& error);

  // The protocol the server chose through ALPN; "" when it chose none.
  std::string_view alpn() const;

 private:
  Status status_of(int ret, std::string& error);

  SslPtr ssl_;
};

}  // namespace loadgen
