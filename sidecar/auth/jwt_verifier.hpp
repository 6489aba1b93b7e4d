// Verifies JSON Web Tokens (RFC 7519, JWS compact form) against keys the operator configured.
// The algorithm used is always the configured key's, never chosen by the token: a token whose
// "alg" differs from its key's algorithm is refused (no HS/RS confusion, no "none").
#pragma once

#include <openssl/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sidecar {

inline constexpr std::size_t kMaxJwtBytes = 8192;

struct JwtKey {
  std::string algorithm;  // "HS256", "HS384", "HS512", "RS256" or "ES256"
  std::string kid;        // optional; when set, only tokens with this "kid" header use this key
  // HS*: the shared secret bytes, at least as long as the hash (32, 48, 64 bytes; RFC 7518
  // 3.2) and not PEM text (a public key as HMAC secret lets anyone sign). RS256/ES256: PEM
  // public key (SubjectPublicKeyInfo "BEGIN PUBLIC KEY") or an X.509 certificate PEM.
  std::string material;
};

struct JwtRules {
  std::vector<JwtKey> keys;
  std::string issuer;                   // required "iss" when non-empty
  std::string audience;                 // when non-empty, "aud" (string or array) must contain it
  std::int64_t leeway_seconds = 30;     // clock skew allowed on exp and nbf (negative means 0)
  std::string topics_claim = "topics";  // claim listing the topic patterns granted; "" for none
  bool require_exp = true;              // tokens without "exp" are refused when true
};

struct JwtGrant {
  std::string subject;  // "sub" claim (required, non-empty string)
  // From topics_claim: an array of strings, or one space-separated string; every entry is a valid
  // TopicPattern. Empty when the claim is absent: the caller decides what that grants.
  std::vector<std::string> topics;
  std::optional<std::int64_t> expires_at;  // "exp" (unix seconds, fraction dropped), if present
};

// Immutable after create(): verify() may be called from several threads at once.
class JwtVerifier {
 public:
  // nullptr with a one-line `error` ("key 2: RS256 needs a PEM public key: ...", keys counted
  // from 1) when a key cannot be loaded or its algorithm is unknown ("no keys configured" when
  // there is none). PEM is parsed once, here.
  // ES256 keys must be P-256, RS256 keys RSA of at least 2048 bits.
  static std::unique_ptr<JwtVerifier> create(const JwtRules& rules, std::string& error);
  // Why create() would refuse this one key ("HS256 needs a secret of at least 32 bytes (got
  // 5)", without the "key N: " prefix), or "" when it is usable.
  static std::string key_problem(const JwtKey& key);

  // Checks the signature, then the claims at time `now` (unix seconds). On refusal returns false
  // with a one-line `error` that never contains the token or a secret: "token too long",
  // "malformed token", "unsupported critical header", "algorithm not allowed",
  // "no key for this token", "bad signature", "token expired", "token not yet valid",
  // "wrong issuer", "wrong audience", "token has no subject", "token has no expiry",
  // "claim 'exp' must be a number" (also nbf, iat), "claim 'topics' must be an array of strings
  // or a space-separated string", "claim 'topics' holds an invalid topic pattern", and
  // "token could not be verified" if memory runs out.
  // `out` is only meaningful when true is returned. Never throws.
  bool verify(std::string_view token, std::int64_t now, JwtGrant& out, std::string& error) const;

  ~JwtVerifier();
  JwtVerifier(const JwtVerifier&) = delete;
  JwtVerifier& operator=(const JwtVerifier&) = delete;

 private:
  struct PkeyFree {
    void operator()(EVP_PKEY* key) const;
  };
  struct LoadedKey {
    std::string algorithm;
    std::string kid;
    std::string secret;                              // HS* only
    std::unique_ptr<EVP_PKEY, PkeyFree> public_key;  // RS256 / ES256 only
  };

  JwtVerifier() = default;
  bool verify_claims(std::string_view payload_b64, std::int64_t now, JwtGrant& out,
                     std::string& error) const;

  std::vector<LoadedKey> keys_;
  std::string issuer_;
  std::string audience_;
  std::int64_t leeway_seconds_ = 0;
  std::string topics_claim_;
  bool require_exp_ = true;
};

}  // namespace sidecar
