// The server side of TLS for one certificate and key: an OpenSSL SSL_CTX with the settings every
// TLS connection of the stream listener shares (versions, ciphers, ALPN, session tickets).
//
// Ownership: OpenSSL counts references to an SSL_CTX, and each connection's SSL holds one, so a
// reload can replace the context of new connections while open ones keep theirs until they end.
// Thread contract: immutable once made; workers make sessions from it concurrently.
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "sidecar/core/c_deleter.hpp"

namespace sidecar {

using SslCtxPtr = std::unique_ptr<SSL_CTX, CDeleter<SSL_CTX_free>>;

// What is wrong with a certificate chain and key given as PEM text: each field a reason ("" when
// fine). An expired (or not yet valid) certificate is only a warning: the listener still starts,
// and clients refuse it, which is what the admin must hear about.
struct TlsPairCheck {
  std::string certificate_error;
  std::string key_error;
  std::string warning;

  bool usable() const { return certificate_error.empty() && key_error.empty(); }
};

class TlsContext {
 public:
  // The application protocols offered through ALPN, in the server's order of preference: h2
  // first, then http/1.1. RFC 7301 3.2: a client that offers protocols, none of them ours, gets
  // the handshake failed with no_application_protocol rather than a silent fallback it did not
  // ask for; a client that offers none gets HTTP/1.1.
  static constexpr std::string_view kH2 = "h2";
  static constexpr std::string_view kHttp11 = "http/1.1";

  static TlsPairCheck check(std::string_view certificate_pem, std::string_view key_pem);
  // Null, with `error`, when the pair is not usable (check() says why).
  static std::shared_ptr<const TlsContext> create(std::string_view certificate_pem,
                                                  std::string_view key_pem, std::string& error);

  SSL_CTX* get() const { return ctx_.get(); }
  // The leaf certificate, for logs: "subject CN=…, serial 1A2B, valid until …".
  const std::string& description() const { return description_; }
  // When the leaf certificate expires, in seconds since the epoch (its notAfter), so that an
  // alert can fire before clients start refusing it.
  std::int64_t not_after() const { return not_after_; }

 private:
  TlsContext(SslCtxPtr ctx, std::string description, std::int64_t not_after)
      : ctx_(std::move(ctx)), description_(std::move(description)), not_after_(not_after) {}

  SslCtxPtr ctx_;
  std::string description_;
  std::int64_t not_after_;
};

}  // namespace sidecar
