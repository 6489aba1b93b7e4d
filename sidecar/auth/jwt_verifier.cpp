#include "sidecar/auth/jwt_verifier.hpp"

#include "sidecar/core/c_deleter.hpp"
#include "sidecar/core/crypto.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <set>

#include "sidecar/core/topic.hpp"

namespace sidecar {
namespace {

using BioPtr = std::unique_ptr<BIO, CDeleter<BIO_free>>;
using X509Ptr = std::unique_ptr<X509, CDeleter<X509_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, CDeleter<EVP_PKEY_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, CDeleter<EVP_MD_CTX_free>>;
using BignumPtr = std::unique_ptr<BIGNUM, CDeleter<BN_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, CDeleter<ECDSA_SIG_free>>;

// Failed OpenSSL calls leave entries on the thread's error queue; TLS code sharing the thread
// (libcurl) reads that queue, so every entry pushed here is dropped on the way out.
class ErrorQueueMark {
 public:
  ErrorQueueMark() { ERR_set_mark(); }
  ~ErrorQueueMark() { ERR_pop_to_mark(); }
  ErrorQueueMark(const ErrorQueueMark&) = delete;
  ErrorQueueMark& operator=(const ErrorQueueMark&) = delete;
};

constexpr std::int64_t kMaxLeewaySeconds = std::int64_t{1} << 40;
// NumericDates are clamped into this range so that adding a leeway cannot overflow.
constexpr std::int64_t kTimeLimit = std::int64_t{1} << 61;

const EVP_MD* hmac_digest(std::string_view algorithm) {
  if (algorithm == "HS256") return EVP_sha256();
  if (algorithm == "HS384") return EVP_sha384();
  if (algorithm == "HS512") return EVP_sha512();
  return nullptr;
}

// Strict unpadded base64url (RFC 7515 section 2), shared with the other access checks.
bool base64url_decode(std::string_view in, std::string& out) {
  auto decoded = sidecar::base64url_decode(in);
  if (!decoded) return false;
  out = std::move(*decoded);
  return true;
}

// RFC 7519 section 4: duplicate member names must be refused (RapidJSON would use the first).
bool has_duplicate_members(const rapidjson::Value& object) {
  std::set<std::string_view> names;
  for (const auto& m : object.GetObject()) {
    if (!names.emplace(m.name.GetString(), m.name.GetStringLength()).second) return true;
  }
  return false;
}

// Iterative parsing: the header is read before the signature is checked, so its nesting depth
// is attacker-controlled and must not grow the stack.
bool parse_object(std::string_view b64, rapidjson::Document& doc) {
  std::string json;
  if (!base64url_decode(b64, json)) return false;
  doc.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(json.data(),
                                                                                    json.size());
  return !doc.HasParseError() && doc.IsObject() && !has_duplicate_members(doc);
}

std::string_view string_of(const rapidjson::Value& v) {
  return {v.GetString(), v.GetStringLength()};
}

const rapidjson::Value* member(const rapidjson::Value& object, std::string_view name) {
  auto it = object.FindMember(rapidjson::Value(
      rapidjson::StringRef(name.data(), static_cast<rapidjson::SizeType>(name.size()))));
  return it == object.MemberEnd() ? nullptr : &it->value;
}

bool iequals(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    return lower(x) == lower(y);
  });
}

// A NumericDate as whole seconds (fraction dropped), clamped to +-kTimeLimit.
std::int64_t numeric_date(const rapidjson::Value& v) {
  if (v.IsInt64()) return std::clamp(v.GetInt64(), -kTimeLimit, kTimeLimit);
  if (v.IsUint64()) return kTimeLimit;
  double d = std::floor(v.GetDouble());
  if (d >= static_cast<double>(kTimeLimit)) return kTimeLimit;
  if (d <= static_cast<double>(-kTimeLimit)) return -kTimeLimit;
  return static_cast<std::int64_t>(d);
}

std::string load_public_key(const JwtKey& key, PkeyPtr& out) {
  if (key.material.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    return "key material is too large";
  }
  BioPtr bio(BIO_new_mem_buf(key.material.data(), static_cast<int>(key.material.size())));
  if (!bio) return "out of memory";
  if (key.material.find("-----BEGIN CERTIFICATE-----") != std::string::npos) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) return "the certificate PEM could not be read";
    out.reset(X509_get_pubkey(cert.get()));
    if (!out) return "the certificate's public key could not be read";
  } else {
    out.reset(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
    if (!out) return "no \"BEGIN PUBLIC KEY\" or \"BEGIN CERTIFICATE\" block could be read";
  }
  if (key.algorithm == "RS256") {
    if (!EVP_PKEY_is_a(out.get(), "RSA")) return "the key is not an RSA key";
    if (EVP_PKEY_get_bits(out.get()) < 2048) return "the RSA key is shorter than 2048 bits";
  } else {
    if (!EVP_PKEY_is_a(out.get(), "EC")) return "the key is not an EC key";
    std::array<char, 64> group{};
    std::size_t length = 0;
    if (!EVP_PKEY_get_utf8_string_param(out.get(), OSSL_PKEY_PARAM_GROUP_NAME, group.data(),
                                        group.size(), &length) ||
        OBJ_sn2nid(group.data()) != NID_X9_62_prime256v1) {
      return "the EC key is not on curve P-256";
    }
  }
  return {};
}

bool verify_hmac(const EVP_MD* md, const std::string& secret, std::string_view input,
                 std::string_view signature) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int mac_length = 0;
  if (!HMAC(md, secret.data(), static_cast<int>(secret.size()),
            reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac.data(),
            &mac_length)) {
    return false;
  }
  return signature.size() == mac_length &&
         CRYPTO_memcmp(mac.data(), signature.data(), mac_length) == 0;
}

// JWS carries ECDSA signatures as raw r||s (RFC 7518 section 3.4); OpenSSL wants DER.
bool es256_to_der(std::string_view raw, std::string& der) {
  if (raw.size() != 64) return false;
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  BignumPtr r(BN_bin2bn(bytes, 32, nullptr));
  BignumPtr s(BN_bin2bn(bytes + 32, 32, nullptr));
  EcdsaSigPtr sig(ECDSA_SIG_new());
  if (!r || !s || !sig || !ECDSA_SIG_set0(sig.get(), r.get(), s.get())) return false;
  (void)r.release();  // owned by sig now
  (void)s.release();
  int length = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (length <= 0) return false;
  der.resize(static_cast<std::size_t>(length));
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  return i2d_ECDSA_SIG(sig.get(), &p) == length;
}

bool verify_public(EVP_PKEY* key, std::string_view input, std::string_view signature) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                          input.size()) == 1;
}

bool verify_signature(std::string_view algorithm, const std::string& secret, EVP_PKEY* key,
                      std::string_view input, std::string_view signature) {
  if (const EVP_MD* md = hmac_digest(algorithm)) return verify_hmac(md, secret, input, signature);
  if (algorithm == "RS256") return verify_public(key, input, signature);
  std::string der;
  return es256_to_der(signature, der) && verify_public(key, input, der);
}

// The topics claim: an array of patterns, or one string of space-separated patterns (the form
// OAuth uses for "scope"). Empty when all is well, else the one-line reason.
std::string read_topics(const rapidjson::Value& claim, const std::string& name,
                        std::vector<std::string>& out) {
  auto wrong_type = [&name] {
    return "claim '" + name + "' must be an array of strings or a space-separated string";
  };
  std::vector<std::string_view> items;
  if (claim.IsString()) {
    std::string_view text = string_of(claim);
    while (!text.empty()) {
      auto end = std::min(text.find(' '), text.size());
      if (end > 0) items.push_back(text.substr(0, end));
      text.remove_prefix(std::min(end + 1, text.size()));
    }
  } else if (claim.IsArray()) {
    for (const auto& item : claim.GetArray()) {
      if (!item.IsString()) return wrong_type();
      items.push_back(string_of(item));
    }
  } else {
    return wrong_type();
  }
  for (std::string_view item : items) {
    if (!TopicPattern::parse(item)) return "claim '" + name + "' holds an invalid topic pattern";
    out.emplace_back(item);
  }
  return {};
}

// Fills `secret` (HS*) or `public_key` (RS256, ES256); empty when the key is usable, else why not.
std::string load_key(const JwtKey& key, std::string& secret, PkeyPtr& public_key) {
  if (const EVP_MD* md = hmac_digest(key.algorithm)) {
    auto minimum = static_cast<std::size_t>(EVP_MD_get_size(md));
    if (key.material.size() < minimum) {
      return key.algorithm + " needs a secret of at least " + std::to_string(minimum) +
             " bytes (got " + std::to_string(key.material.size()) + ")";
    }
    if (key.material.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
      return key.algorithm + " secret is too large";
    }
    // Whoever holds a public key could sign with it as an HMAC secret.
    if (key.material.find("-----BEGIN") != std::string::npos) {
      return key.algorithm + " secret looks like a PEM key; use RS256 or ES256";
    }
    secret = key.material;
    return {};
  }
  if (key.algorithm == "RS256" || key.algorithm == "ES256") {
    if (auto reason = load_public_key(key, public_key); !reason.empty()) {
      return key.algorithm + " needs a PEM public key: " + reason;
    }
    return {};
  }
  return "unknown algorithm '" + key.algorithm.substr(0, 16) +
         "' (use HS256, HS384, HS512, RS256 or ES256)";
}

std::string key_error(std::size_t index, const std::string& reason) {
  return "key " + std::to_string(index + 1) + ": " + reason;
}

}  // namespace

void JwtVerifier::PkeyFree::operator()(EVP_PKEY* key) const {
  EVP_PKEY_free(key);
}

JwtVerifier::~JwtVerifier() = default;

std::string JwtVerifier::key_problem(const JwtKey& key) {
  ErrorQueueMark mark;
  std::string secret;
  PkeyPtr public_key;
  return load_key(key, secret, public_key);
}

std::unique_ptr<JwtVerifier> JwtVerifier::create(const JwtRules& rules, std::string& error) {
  ErrorQueueMark mark;
  if (rules.keys.empty()) {
    error = "no keys configured";
    return nullptr;
  }
  std::unique_ptr<JwtVerifier> v(new JwtVerifier());
  for (std::size_t i = 0; i < rules.keys.size(); ++i) {
    const JwtKey& key = rules.keys[i];
    LoadedKey loaded{key.algorithm, key.kid, {}, nullptr};
    PkeyPtr public_key;
    if (auto reason = load_key(key, loaded.secret, public_key); !reason.empty()) {
      error = key_error(i, reason);
      return nullptr;
    }
    loaded.public_key.reset(public_key.release());
    v->keys_.push_back(std::move(loaded));
  }
  v->issuer_ = rules.issuer;
  v->audience_ = rules.audience;
  v->leeway_seconds_ = std::clamp<std::int64_t>(rules.leeway_seconds, 0, kMaxLeewaySeconds);
  v->topics_claim_ = rules.topics_claim;
  v->require_exp_ = rules.require_exp;
  return v;
}

bool JwtVerifier::verify(std::string_view token, std::int64_t now, JwtGrant& out,
                         std::string& error) const {
  try {
    ErrorQueueMark mark;
    if (token.size() > kMaxJwtBytes) {
      error = "token too long";
      return false;
    }
    auto first_dot = token.find('.');
    auto second_dot =
        first_dot == std::string_view::npos ? first_dot : token.find('.', first_dot + 1);
    if (second_dot == std::string_view::npos ||
        token.find('.', second_dot + 1) != std::string_view::npos) {
      error = "malformed token";
      return false;
    }
    std::string_view header_b64 = token.substr(0, first_dot);
    std::string_view payload_b64 = token.substr(first_dot + 1, second_dot - first_dot - 1);
    std::string_view signing_input = token.substr(0, second_dot);
    std::string signature;
    rapidjson::Document header;
    if (!base64url_decode(token.substr(second_dot + 1), signature) ||
        !parse_object(header_b64, header)) {
      error = "malformed token";
      return false;
    }
    const auto* alg = member(header, "alg");
    const auto* typ = member(header, "typ");
    const auto* kid = member(header, "kid");
    if (!alg || !alg->IsString() ||
        (typ && (!typ->IsString() || !iequals(string_of(*typ), "JWT"))) ||
        (kid && !kid->IsString())) {
      error = "malformed token";
      return false;
    }
    // No header extension is understood, so any critical one must be refused (RFC 7515 4.1.11).
    if (member(header, "crit")) {
      error = "unsupported critical header";
      return false;
    }

    std::string_view algorithm = string_of(*alg);
    std::string_view wanted_kid = kid ? string_of(*kid) : std::string_view();
    bool tried = false;
    bool verified = false;
    for (const auto& key : keys_) {
      if (key.kid != wanted_kid || key.algorithm != algorithm) continue;
      tried = true;
      if (verify_signature(key.algorithm, key.secret, key.public_key.get(), signing_input,
                           signature)) {
        verified = true;
        break;
      }
    }
    if (!tried) {
      bool known = std::any_of(keys_.begin(), keys_.end(),
                               [&](const LoadedKey& k) { return k.algorithm == algorithm; });
      error = known ? "no key for this token" : "algorithm not allowed";
      return false;
    }
    if (!verified) {
      error = "bad signature";
      return false;
    }
    return verify_claims(payload_b64, now, out, error);
  } catch (...) {
    error = "token could not be verified";
    return false;
  }
}

bool JwtVerifier::verify_claims(std::string_view payload_b64, std::int64_t now, JwtGrant& out,
                                std::string& error) const {
  rapidjson::Document claims;
  if (!parse_object(payload_b64, claims)) {
    error = "malformed token";
    return false;
  }
  now = std::clamp(now, -kTimeLimit, kTimeLimit);
  JwtGrant grant;
  for (const char* name : {"exp", "nbf", "iat"}) {
    const auto* v = member(claims, name);
    if (v && !v->IsNumber()) {
      error = std::string("claim '") + name + "' must be a number";
      return false;
    }
  }
  if (const auto* exp = member(claims, "exp")) {
    grant.expires_at = numeric_date(*exp);
    if (now - leeway_seconds_ >= *grant.expires_at) {
      error = "token expired";
      return false;
    }
  } else if (require_exp_) {
    error = "token has no expiry";
    return false;
  }
  if (const auto* nbf = member(claims, "nbf"); nbf && now + leeway_seconds_ < numeric_date(*nbf)) {
    error = "token not yet valid";
    return false;
  }
  if (!issuer_.empty()) {
    const auto* iss = member(claims, "iss");
    if (!iss || !iss->IsString() || string_of(*iss) != issuer_) {
      error = "wrong issuer";
      return false;
    }
  }
  if (!audience_.empty()) {
    const auto* aud = member(claims, "aud");
    bool found = false;
    if (aud && aud->IsString()) {
      found = string_of(*aud) == audience_;
    } else if (aud && aud->IsArray()) {
      for (const auto& a : aud->GetArray())
        found = found || (a.IsString() && string_of(a) == audience_);
    }
    if (!found) {
      error = "wrong audience";
      return false;
    }
  }
  const auto* sub = member(claims, "sub");
  if (!sub || !sub->IsString() || sub->GetStringLength() == 0) {
    error = "token has no subject";
    return false;
  }
  grant.subject = string_of(*sub);
  if (const auto* topics = topics_claim_.empty() ? nullptr : member(claims, topics_claim_)) {
    if (error = read_topics(*topics, topics_claim_, grant.topics); !error.empty()) return false;
  }
  out = std::move(grant);
  return true;
}

}  // namespace sidecar
