#include "sidecar/net/tls_context.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <ctime>
#include <vector>

namespace sidecar {
namespace {

using BioPtr = std::unique_ptr<BIO, CDeleter<BIO_free>>;
using X509Ptr = std::unique_ptr<X509, CDeleter<X509_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, CDeleter<EVP_PKEY_free>>;

// Mozilla's "intermediate" profile (v5.7): TLS 1.2 with forward-secret AEAD suites only, and
// TLS 1.3's own suites (OpenSSL's defaults, the same three).
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";
constexpr const char* kTls13Ciphers =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr const char* kGroups = "X25519:prime256v1:secp384r1";
// TLS 1.2 sessions kept for resumption by session id (see create()).
constexpr long kSessionCacheEntries = 1024;

BioPtr memory_bio(std::string_view text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// Every certificate of a PEM chain, leaf first; empty when there is none.
std::vector<X509Ptr> read_chain(std::string_view pem) {
  std::vector<X509Ptr> chain;
  BioPtr bio = memory_bio(pem);
  while (bio) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) break;
    chain.push_back(std::move(cert));
  }
  ERR_clear_error();  // the end of the text reads as an error
  return chain;
}

PkeyPtr read_key(std::string_view pem) {
  BioPtr bio = memory_bio(pem);
  PkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  ERR_clear_error();
  return key;
}

std::string asn1_time_text(const ASN1_TIME* t) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || ASN1_TIME_print(bio.get(), t) != 1) return "?";
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

std::string describe(X509* leaf) {
  std::string out = "subject ";
  char name[256] = "?";
  X509_NAME_oneline(X509_get_subject_name(leaf), name, sizeof(name));
  out += name;
  out += ", serial ";
  if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), nullptr)) {
    if (char* hex = BN_bn2hex(bn)) {
      out += hex;
      OPENSSL_free(hex);
    }
    BN_free(bn);
  }
  out += ", valid until " + asn1_time_text(X509_get0_notAfter(leaf));
  return out;
}

// notAfter as seconds since the epoch (0 when it cannot be read).
std::int64_t expiry_of(X509* leaf) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm) != 1) return 0;
  return static_cast<std::int64_t>(timegm(&tm));
}

int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void*) {
  // Length-prefixed, h2 first: SSL_select_next_proto takes the first of ours the client offers.
  static const unsigned char kOffer[] = "\x02h2\x08http/1.1";
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, outlen, kOffer, sizeof(kOffer) - 1, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;  // no_application_protocol (RFC 7301 3.2)
  }
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

TlsPairCheck TlsContext::check(std::string_view certificate_pem, std::string_view key_pem) {
  TlsPairCheck result;
  auto chain = read_chain(certificate_pem);
  PkeyPtr key = read_key(key_pem);
  if (chain.empty()) {
    result.certificate_error =
        "holds no PEM certificate (expected \"-----BEGIN CERTIFICATE-----\", the leaf first)";
  }
  if (!key) {
    result.key_error =
        "holds no PEM private key (expected \"-----BEGIN PRIVATE KEY-----\" or a \"BEGIN RSA/EC "
        "PRIVATE KEY\" block, unencrypted)";
  }
  if (!result.usable()) return result;
  X509* leaf = chain.front().get();
  if (X509_check_private_key(leaf, key.get()) != 1) {
    ERR_clear_error();
    result.key_error =
        "does not match the certificate in tls.certificate_file (the first certificate there "
        "must be the one this key signs for)";
    return result;
  }
  if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0) {
    result.warning = "the certificate expired on " + asn1_time_text(X509_get0_notAfter(leaf)) +
                     "; clients will refuse it until it is renewed";
  } else if (X509_cmp_current_time(X509_get0_notBefore(leaf)) > 0) {
    result.warning = "the certificate is not valid before " +
                     asn1_time_text(X509_get0_notBefore(leaf)) + "; clients will refuse it";
  }
  return result;
}

std::shared_ptr<const TlsContext> TlsContext::create(std::string_view certificate_pem,
                                                     std::string_view key_pem, std::string& error) {
  TlsPairCheck checked = check(certificate_pem, key_pem);
  if (!checked.usable()) {
    error = !checked.certificate_error.empty() ? "certificate " + checked.certificate_error
                                               : "key " + checked.key_error;
    return nullptr;
  }
  auto chain = read_chain(certificate_pem);
  PkeyPtr key = read_key(key_pem);
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  auto failed = [&error](const char* what) {
    char buf[256];
    ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
    ERR_clear_error();
    error = std::string(what) + ": " + buf;
    return nullptr;
  };
  if (!ctx) return failed("cannot create a TLS context");
  SSL_CTX* c = ctx.get();
  if (SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION) != 1) {
    return failed("cannot limit TLS versions");
  }
  if (SSL_CTX_set_cipher_list(c, kTls12Ciphers) != 1 ||
      SSL_CTX_set_ciphersuites(c, kTls13Ciphers) != 1 ||
      SSL_CTX_set1_groups_list(c, kGroups) != 1) {
    return failed("cannot set the cipher suites");
  }
  SSL_CTX_set_dh_auto(c, 1);  // the DHE suites take OpenSSL's built-in groups
  // Renegotiation is a way to make the server work on demand and is not needed by any browser.
  // A client that hangs up without close_notify (most do: a closed tab) has simply left, not
  // failed: OpenSSL 3 would otherwise call that a fatal error and drop its TLS 1.2 session from
  // the cache, so it could not resume by session id.
  SSL_CTX_set_options(c, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION |
                             SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
  // Partial writes: a flush takes what fits and keeps the rest queued. Moving buffer: a write
  // retried after WANT_WRITE gathers the same bytes into the worker's scratch buffer again, at
  // any address. Release buffers: an idle connection holds no 16 KiB read and write buffers.
  SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                          SSL_MODE_RELEASE_BUFFERS);
  // Resumption without a handshake's public-key work: session tickets (TLS 1.2 and 1.3), and a
  // server-side cache for TLS 1.2 clients that use session ids.
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_SERVER);
  // That cache keeps every TLS 1.2 session (TLS 1.3 ones live in their tickets only), 20 480 of
  // them by default, about 1 KiB each: memory no setting bounds. Browsers resume with tickets;
  // the cache serves the few clients without, and 1024 of those is plenty.
  SSL_CTX_sess_set_cache_size(c, kSessionCacheEntries);
  static const unsigned char kSessionContext[] = "sse-sidecar";
  SSL_CTX_set_session_id_context(c, kSessionContext, sizeof(kSessionContext) - 1);
  SSL_CTX_set_alpn_select_cb(c, &select_alpn, nullptr);

  if (SSL_CTX_use_certificate(c, chain.front().get()) != 1) {
    return failed("cannot use the certificate");
  }
  for (std::size_t i = 1; i < chain.size(); ++i) {
    if (SSL_CTX_add1_chain_cert(c, chain[i].get()) != 1) {
      return failed("cannot add a chain certificate");
    }
  }
  if (SSL_CTX_use_PrivateKey(c, key.get()) != 1 || SSL_CTX_check_private_key(c) != 1) {
    return failed("cannot use the key");
  }
  std::string description = describe(chain.front().get());
  const std::int64_t not_after = expiry_of(chain.front().get());
  return std::shared_ptr<const TlsContext>(
      new TlsContext(std::move(ctx), std::move(description), not_after));
}

}  // namespace sidecar
