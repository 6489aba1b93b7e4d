#include "tools/loadgen/tls_client.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include <cerrno>
#include <cstring>

namespace loadgen {

namespace {

// With read-ahead, one recv() takes every record the socket holds up to this size, so a burst
// of small records costs one syscall per 64 KiB instead of two per record (header, then body).
// Buffers are released whenever they are empty, so 19k idle connections do not hold them.
constexpr size_t kReadBufferBytes = size_t{64} * 1024;

std::string alpn_wire(const std::vector<std::string>& protocols) {
  std::string out;
  for (const std::string& p : protocols) {
    out.push_back(static_cast<char>(p.size()));
    out.append(p);
  }
  return out;
}

bool is_ip_literal(const std::string& host) {
  in6_addr a6{};
  in_addr a4{};
  return inet_pton(AF_INET, host.c_str(), &a4) == 1 || inet_pton(AF_INET6, host.c_str(), &a6) == 1;
}

// The first error OpenSSL queued, as one line without the library's codes.
std::string openssl_reason() {
  unsigned long e = ERR_peek_error();
  const char* reason = e ? ERR_reason_error_string(e) : nullptr;
  ERR_clear_error();
  return reason ? std::string(reason) : std::string("unknown error");
}

}  // namespace

std::unique_ptr<TlsClientContext> TlsClientContext::create(const TlsClientOptions& options,
                                                           std::string& error) {
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) {
    error = "cannot create a TLS context: " + openssl_reason();
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  // A server closing the TCP connection without close_notify ends a stream as a plain close
  // does; whether the body was complete is the HTTP decoder's judgement, as without TLS.
  SSL_CTX_set_options(ctx.get(), SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_read_ahead(ctx.get(), 1);
  SSL_CTX_set_default_read_buffer_len(ctx.get(), kReadBufferBytes);
  // Every connection is new (resumption is not measured): keep no sessions around.
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);

  if (options.insecure) {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  } else {
    int loaded = options.ca_file.empty()
                     ? SSL_CTX_set_default_verify_paths(ctx.get())
                     : SSL_CTX_load_verify_locations(ctx.get(), options.ca_file.c_str(), nullptr);
    if (loaded != 1) {
      error = options.ca_file.empty()
                  ? "cannot load the system's trusted CAs: " + openssl_reason()
                  : "--cacert " + options.ca_file +
                        ": not a readable PEM file of CA certificates (" + openssl_reason() + ")";
      return nullptr;
    }
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    // The name check is the same for every connection: set once, inherited by each SSL.
    X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx.get());
    int ok = is_ip_literal(options.host)
                 ? X509_VERIFY_PARAM_set1_ip_asc(param, options.host.c_str())
                 : X509_VERIFY_PARAM_set1_host(param, options.host.c_str(), options.host.size());
    if (ok != 1) {
      error = "cannot check certificates for host '" + options.host + "': " + openssl_reason();
      return nullptr;
    }
  }
  if (!options.alpn.empty()) {
    std::string wire = alpn_wire(options.alpn);
    // The only OpenSSL call that returns 0 on success.
    if (SSL_CTX_set_alpn_protos(ctx.get(), reinterpret_cast<const unsigned char*>(wire.data()),
                                static_cast<unsigned>(wire.size())) != 0) {
      error = "cannot set the ALPN protocols: " + openssl_reason();
      return nullptr;
    }
  }
  std::string server_name = is_ip_literal(options.host) ? std::string() : options.host;
  return std::unique_ptr<TlsClientContext>(
      new TlsClientContext(std::move(ctx), std::move(server_name)));
}

bool TlsClient::start(const TlsClientContext& context, int fd) {
  ssl_.reset(SSL_new(context.get()));
  if (!ssl_ || SSL_set_fd(ssl_.get(), fd) != 1) {
    ERR_clear_error();
    ssl_.reset();
    return false;
  }
  if (!context.server_name().empty() &&
      SSL_set_tlsext_host_name(ssl_.get(), context.server_name().c_str()) != 1) {
    ERR_clear_error();
    ssl_.reset();
    return false;
  }
  SSL_set_connect_state(ssl_.get());
  return true;
}

TlsClient::Status TlsClient::status_of(int ret, std::string& error) {
  int code = SSL_get_error(ssl_.get(), ret);
  switch (code) {
    case SSL_ERROR_WANT_READ:
      return Status::kWantRead;
    case SSL_ERROR_WANT_WRITE:
      return Status::kWantWrite;
    case SSL_ERROR_ZERO_RETURN:
      return Status::kClosed;
    case SSL_ERROR_SYSCALL: {
      int err = errno;
      ERR_clear_error();
      if (err == 0) return Status::kClosed;
      error = std::string("tls: ") + std::strerror(err);
      return Status::kFailed;
    }
    default: {
      long verify = SSL_get_verify_result(ssl_.get());
      if (verify != X509_V_OK) {
        ERR_clear_error();
        error = std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
      } else {
        error = "tls: " + openssl_reason();
      }
      return Status::kFailed;
    }
  }
}

TlsClient::Status TlsClient::handshake(std::string& error) {
  // OpenSSL's error queue is per thread: what an earlier connection left is not this one's.
  ERR_clear_error();
  errno = 0;
  int ret = SSL_do_handshake(ssl_.get());
  if (ret == 1) return Status::kDone;
  Status status = status_of(ret, error);
  // A server that closes during the handshake has refused it.
  if (status == Status::kClosed) {
    error = "tls: closed by the server during the handshake";
    return Status::kFailed;
  }
  return status;
}

TlsClient::Status TlsClient::read(char* buf, size_t size, size_t& n, std::string& error) {
  ERR_clear_error();
  errno = 0;
  n = 0;
  if (SSL_read_ex(ssl_.get(), buf, size, &n) == 1) return Status::kDone;
  return status_of(0, error);
}

TlsClient::Status TlsClient::write(const char* buf, size_t size, size_t& n, std::string& error) {
  ERR_clear_error();
  errno = 0;
  n = 0;
  if (SSL_write_ex(ssl_.get(), buf, size, &n) == 1) return Status::kDone;
  return status_of(0, error);
}

std::string_view TlsClient::alpn() const {
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl_.get(), &data, &len);
  return data ? std::string_view(reinterpret_cast<const char*>(data), len) : std::string_view();
}

}  // namespace loadgen
