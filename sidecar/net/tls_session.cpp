#include "sidecar/net/tls_session.hpp"

#include <openssl/err.h>

#include <cerrno>

namespace sidecar {
namespace {

// The reason of the first error OpenSSL queued for this handshake, as a metric label.
TlsHandshakeResult classify(unsigned long error) {
  if (ERR_GET_LIB(error) != ERR_LIB_SSL) return TlsHandshakeResult::kOther;
  switch (ERR_GET_REASON(error)) {
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_VERSION_TOO_HIGH:
      return TlsHandshakeResult::kProtocolVersion;
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_SHARED_GROUPS:
    case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
      return TlsHandshakeResult::kNoSharedCipher;
    case SSL_R_NO_APPLICATION_PROTOCOL:
      return TlsHandshakeResult::kAlpn;
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
    case SSL_R_UNKNOWN_PROTOCOL:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_RECORD_LENGTH_MISMATCH:
    case SSL_R_WRONG_SSL_VERSION:
      return TlsHandshakeResult::kNotTls;
    default:
      return TlsHandshakeResult::kOther;
  }
}

}  // namespace

std::unique_ptr<TlsSession> TlsSession::create(const TlsContext& context, int fd) {
  SslPtr ssl(SSL_new(context.get()));
  if (!ssl || SSL_set_fd(ssl.get(), fd) != 1) {
    ERR_clear_error();
    return nullptr;
  }
  SSL_set_accept_state(ssl.get());
  return std::unique_ptr<TlsSession>(new TlsSession(std::move(ssl)));
}

TlsSession::Status TlsSession::status_of(int ret) {
  switch (SSL_get_error(ssl_.get(), ret)) {
    case SSL_ERROR_WANT_READ:
      return Status::kWantRead;
    case SSL_ERROR_WANT_WRITE:
      return Status::kWantWrite;
    case SSL_ERROR_ZERO_RETURN:
      return Status::kClosed;
    case SSL_ERROR_SYSCALL:
      // EOF without close_notify (errno 0), or a reset: either way the peer is gone.
      ERR_clear_error();
      return errno == 0 || errno == ECONNRESET || errno == EPIPE ? Status::kClosed
                                                                 : Status::kFailed;
    default:
      return Status::kFailed;
  }
}

TlsSession::Status TlsSession::handshake() {
  // OpenSSL's error queue is per thread: what an earlier connection left must not be read as
  // this one's.
  ERR_clear_error();
  errno = 0;
  int ret = SSL_do_handshake(ssl_.get());
  if (ret == 1) return Status::kDone;
  Status status = status_of(ret);
  if (status == Status::kClosed) {
    failure_ = TlsHandshakeResult::kClosed;
  } else if (status == Status::kFailed) {
    failure_ = classify(ERR_peek_error());
    ERR_clear_error();
  }
  return status;
}

TlsSession::Status TlsSession::read(char* buf, std::size_t size, std::size_t& n) {
  ERR_clear_error();
  errno = 0;
  n = 0;
  if (SSL_read_ex(ssl_.get(), buf, size, &n) == 1) return Status::kDone;
  Status status = status_of(0);
  ERR_clear_error();
  return status;
}

TlsSession::Status TlsSession::write(const char* buf, std::size_t size, std::size_t& n) {
  ERR_clear_error();
  errno = 0;
  n = 0;
  if (SSL_write_ex(ssl_.get(), buf, size, &n) == 1) {
    pending_write = 0;
    return Status::kDone;
  }
  Status status = status_of(0);
  ERR_clear_error();
  if (status == Status::kWantRead || status == Status::kWantWrite) pending_write = size;
  return status;
}

void TlsSession::shutdown() {
  ERR_clear_error();
  // Only after a finished handshake; it sends close_notify and does not wait for the reply.
  if (SSL_is_init_finished(ssl_.get())) SSL_shutdown(ssl_.get());
  ERR_clear_error();
}

std::string_view TlsSession::alpn() const {
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl_.get(), &data, &len);
  return data ? std::string_view(reinterpret_cast<const char*>(data), len) : std::string_view();
}

}  // namespace sidecar
