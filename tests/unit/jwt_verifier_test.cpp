#include "sidecar/auth/jwt_verifier.hpp"

#include "sidecar/core/crypto.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

using namespace sidecar;

namespace {

constexpr std::int64_t kNow = 1700000000;
const std::string kSecret256(32, 'k');
const std::string kSecret384(48, 'l');
const std::string kSecret512(64, 'm');

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(SIDECAR_SOURCE_DIR) + "/tests/unit/fixtures/jwt/" + name,
                   std::ios::binary);
  REQUIRE(in);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string b64url(std::string_view bytes) {
  return sidecar::base64url_encode(bytes);
}

// Test-only signer: what an application issuing tokens would do.
std::string hmac(const EVP_MD* md, const std::string& secret, std::string_view input) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  REQUIRE(HMAC(md, secret.data(), static_cast<int>(secret.size()),
               reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &length));
  return {reinterpret_cast<char*>(mac), length};
}

std::string sign_with_private_key(const std::string& pem_file, std::string_view input) {
  std::string pem = fixture(pem_file);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  REQUIRE(key);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  REQUIRE(EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) == 1);
  std::size_t length = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  REQUIRE(EVP_DigestSign(ctx.get(), nullptr, &length, data, input.size()) == 1);
  std::string sig(length, '\0');
  REQUIRE(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &length, data,
                         input.size()) == 1);
  sig.resize(length);
  if (!EVP_PKEY_is_a(key.get(), "EC")) return sig;
  // JWS wants raw r||s, OpenSSL produced DER.
  const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> ec(
      d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size())), ECDSA_SIG_free);
  REQUIRE(ec);
  std::string raw(64, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  REQUIRE(BN_bn2binpad(ECDSA_SIG_get0_r(ec.get()), out, 32) == 32);
  REQUIRE(BN_bn2binpad(ECDSA_SIG_get0_s(ec.get()), out + 32, 32) == 32);
  return raw;
}

std::string signature_for(const std::string& alg, std::string_view input,
                          const std::string& key = {}) {
  if (alg == "HS256") return hmac(EVP_sha256(), key.empty() ? kSecret256 : key, input);
  if (alg == "HS384") return hmac(EVP_sha384(), key.empty() ? kSecret384 : key, input);
  if (alg == "HS512") return hmac(EVP_sha512(), key.empty() ? kSecret512 : key, input);
  if (alg == "RS256") return sign_with_private_key(key.empty() ? "rsa_private.pem" : key, input);
  if (alg == "ES256") return sign_with_private_key(key.empty() ? "ec_private.pem" : key, input);
  FAIL("no signer for " << alg);
  return {};
}

// header.payload signed with `alg`; `key` is an HMAC secret or a private key fixture name.
std::string make_token(const std::string& header_json, const std::string& payload_json,
                       const std::string& alg, const std::string& key = {}) {
  std::string input = b64url(header_json) + "." + b64url(payload_json);
  return input + "." + b64url(signature_for(alg, input, key));
}

std::string header(const std::string& alg, const std::string& extra = {}) {
  return R"({"alg":")" + alg + R"(","typ":"JWT")" + extra + "}";
}

std::string claims(const std::string& extra = {}) {
  return R"({"sub":"user-1","exp":)" + std::to_string(kNow + 600) +
         R"(,"topics":["chat.room1","news.*"])" + extra + "}";
}

std::string token(const std::string& alg, const std::string& payload = claims()) {
  return make_token(header(alg), payload, alg);
}

JwtRules all_keys() {
  JwtRules rules;
  rules.keys = {{"HS256", "", kSecret256},
                {"HS384", "", kSecret384},
                {"HS512", "", kSecret512},
                {"RS256", "", fixture("rsa_public.pem")},
                {"ES256", "", fixture("ec_public.pem")}};
  return rules;
}

std::unique_ptr<JwtVerifier> make(const JwtRules& rules) {
  std::string error;
  auto v = JwtVerifier::create(rules, error);
  INFO(error);
  REQUIRE(v);
  return v;
}

struct Result {
  bool ok = false;
  std::string error;
  JwtGrant grant;
};

Result check(const JwtVerifier& v, std::string_view tok, std::int64_t now = kNow) {
  Result r;
  r.ok = v.verify(tok, now, r.grant, r.error);
  // Refusals go to clients and logs: never echo the token or a secret.
  if (!r.ok) {
    CHECK_FALSE(r.error.empty());
    CHECK(r.error.find('\n') == std::string::npos);
    if (tok.size() >= 8) CHECK(r.error.find(tok) == std::string::npos);
    CHECK(r.error.find(kSecret256) == std::string::npos);
  }
  return r;
}

std::string refusal(const JwtVerifier& v, std::string_view tok, std::int64_t now = kNow) {
  auto r = check(v, tok, now);
  CHECK_FALSE(r.ok);
  return r.error;
}

std::string create_error(const JwtRules& rules) {
  std::string error;
  CHECK_FALSE(JwtVerifier::create(rules, error));
  return error;
}

}  // namespace

TEST_CASE("jwt: valid tokens of every algorithm are accepted", "[jwt]") {
  auto v = make(all_keys());
  for (const char* alg : {"HS256", "HS384", "HS512", "RS256", "ES256"}) {
    INFO(alg);
    auto r = check(*v, token(alg));
    INFO(r.error);
    REQUIRE(r.ok);
    CHECK(r.grant.subject == "user-1");
    CHECK(r.grant.topics == std::vector<std::string>{"chat.room1", "news.*"});
    CHECK(r.grant.expires_at == kNow + 600);
  }
}

TEST_CASE("jwt: keys may be given as X.509 certificates", "[jwt]") {
  JwtRules rules;
  rules.keys = {{"RS256", "", fixture("rsa_cert.pem")}, {"ES256", "", fixture("ec_cert.pem")}};
  auto v = make(rules);
  CHECK(check(*v, token("RS256")).ok);
  CHECK(check(*v, token("ES256")).ok);
}

TEST_CASE("jwt: expiry and not-before honour the leeway", "[jwt]") {
  auto rules = all_keys();
  rules.leeway_seconds = 30;
  auto v = make(rules);
  auto with_exp = [](std::int64_t exp) {
    return token("HS256", R"({"sub":"u","exp":)" + std::to_string(exp) + "}");
  };
  CHECK(refusal(*v, with_exp(kNow - 31)) == "token expired");
  CHECK(refusal(*v, with_exp(kNow - 30)) == "token expired");
  CHECK(check(*v, with_exp(kNow - 29)).ok);  // expired, but within the leeway
  CHECK(check(*v, with_exp(kNow + 1)).ok);

  rules.leeway_seconds = 0;
  auto strict = make(rules);
  CHECK(refusal(*strict, with_exp(kNow)) == "token expired");
  CHECK(check(*strict, with_exp(kNow + 1)).ok);

  auto with_nbf = [](std::int64_t nbf) {
    return token("HS256", claims(",\"nbf\":" + std::to_string(nbf)));
  };
  CHECK(refusal(*v, with_nbf(kNow + 31)) == "token not yet valid");
  CHECK(check(*v, with_nbf(kNow + 30)).ok);
  CHECK(check(*v, with_nbf(kNow - 100)).ok);
  CHECK(refusal(*strict, with_nbf(kNow + 1)) == "token not yet valid");

  // Fractional NumericDates are allowed; huge ones must not overflow.
  CHECK(check(*v, token("HS256", R"({"sub":"u","exp":1700000600.5})")).ok);
  CHECK(check(*v, token("HS256", R"({"sub":"u","exp":1e300})")).ok);
  CHECK(check(*v, token("HS256", R"({"sub":"u","exp":18446744073709551615})")).ok);
  CHECK(refusal(*v, token("HS256", R"({"sub":"u","exp":-1e300})")) == "token expired");
  CHECK(refusal(*v, token("HS256", claims(R"(,"nbf":1e300)"))) == "token not yet valid");
}

TEST_CASE("jwt: time claims must be numbers", "[jwt]") {
  auto v = make(all_keys());
  CHECK(refusal(*v, token("HS256", R"({"sub":"u","exp":"1700000600"})")) ==
        "claim 'exp' must be a number");
  CHECK(refusal(*v, token("HS256", claims(R"(,"nbf":null)"))) == "claim 'nbf' must be a number");
  CHECK(refusal(*v, token("HS256", claims(R"(,"iat":true)"))) == "claim 'iat' must be a number");
  CHECK(check(*v, token("HS256", claims(R"(,"iat":1699999000)"))).ok);
}

TEST_CASE("jwt: exp is required unless configured otherwise", "[jwt]") {
  auto rules = all_keys();
  auto no_exp = token("HS256", R"({"sub":"u"})");
  CHECK(refusal(*make(rules), no_exp) == "token has no expiry");
  rules.require_exp = false;
  auto r = check(*make(rules), no_exp);
  REQUIRE(r.ok);
  CHECK_FALSE(r.grant.expires_at);
  CHECK(r.grant.topics.empty());
}

TEST_CASE("jwt: issuer and audience", "[jwt]") {
  auto rules = all_keys();
  rules.issuer = "https://auth.example";
  rules.audience = "sidecar";
  auto v = make(rules);
  const std::string good = R"(,"iss":"https://auth.example")";
  CHECK(check(*v, token("HS256", claims(good + R"(,"aud":"sidecar")"))).ok);
  CHECK(check(*v, token("RS256", claims(good + R"(,"aud":["other","sidecar"])"))).ok);
  CHECK(refusal(*v, token("HS256", claims(good + R"(,"aud":["other",1])"))) == "wrong audience");
  CHECK(refusal(*v, token("HS256", claims(good + R"(,"aud":"sidecar2")"))) == "wrong audience");
  CHECK(refusal(*v, token("HS256", claims(good + R"(,"aud":[])"))) == "wrong audience");
  CHECK(refusal(*v, token("HS256", claims(good))) == "wrong audience");
  CHECK(refusal(*v, token("HS256", claims(R"(,"iss":"https://evil.example","aud":"sidecar")"))) ==
        "wrong issuer");
  CHECK(refusal(*v, token("HS256", claims(R"(,"iss":["https://auth.example"],"aud":"sidecar")"))) ==
        "wrong issuer");
  CHECK(refusal(*v, token("HS256", claims(R"(,"aud":"sidecar")"))) == "wrong issuer");

  // Unconfigured, neither claim is looked at.
  CHECK(check(*make(all_keys()), token("HS256", claims(R"(,"iss":1,"aud":2)"))).ok);
}

TEST_CASE("jwt: a non-empty string subject is required", "[jwt]") {
  auto v = make(all_keys());
  auto exp = std::to_string(kNow + 600);
  CHECK(refusal(*v, token("HS256", R"({"exp":)" + exp + "}")) == "token has no subject");
  CHECK(refusal(*v, token("HS256", R"({"sub":"","exp":)" + exp + "}")) == "token has no subject");
  CHECK(refusal(*v, token("HS256", R"({"sub":42,"exp":)" + exp + "}")) == "token has no subject");
}

TEST_CASE("jwt: alg none is refused with or without a signature part", "[jwt]") {
  auto v = make(all_keys());
  std::string unsigned_token = b64url(R"({"alg":"none","typ":"JWT"})") + "." + b64url(claims());
  CHECK(refusal(*v, unsigned_token + ".") == "algorithm not allowed");
  CHECK(refusal(*v, unsigned_token) == "malformed token");
  CHECK(
      refusal(*v, unsigned_token + "." + b64url(hmac(EVP_sha256(), kSecret256, unsigned_token))) ==
      "algorithm not allowed");
  std::string upper = b64url(R"({"alg":"NONE"})") + "." + b64url(claims()) + ".";
  CHECK(refusal(*v, upper) == "algorithm not allowed");
}

TEST_CASE("jwt: the token cannot choose the algorithm of a key", "[jwt]") {
  JwtRules rules;
  rules.keys = {{"RS256", "", fixture("rsa_public.pem")}};
  auto v = make(rules);
  // Classic confusion: HMAC keyed with the (public) RSA key PEM.
  std::string forged = make_token(header("HS256"), claims(), "HS256", fixture("rsa_public.pem"));
  CHECK(refusal(*v, forged) == "algorithm not allowed");
  CHECK(refusal(*v, token("ES256")) == "algorithm not allowed");
  CHECK(refusal(*v, make_token(header("RS384"), claims(), "RS256")) == "algorithm not allowed");

  // With an HMAC key configured too, the forgery meets that key's secret and fails.
  rules.keys.push_back({"HS256", "", kSecret256});
  CHECK(refusal(*make(rules), forged) == "bad signature");

  // And a public key PEM is never accepted as an HMAC secret.
  JwtRules pem_secret;
  pem_secret.keys = {{"HS256", "", fixture("rsa_public.pem")}};
  CHECK(create_error(pem_secret) == "key 1: HS256 secret looks like a PEM key; use RS256 or ES256");
}

TEST_CASE("jwt: signatures by other keys or over other bytes are refused", "[jwt]") {
  auto v = make(all_keys());
  CHECK(refusal(*v, make_token(header("RS256"), claims(), "RS256", "rsa_other_private.pem")) ==
        "bad signature");
  CHECK(refusal(*v, make_token(header("HS256"), claims(), "HS256", std::string(32, 'x'))) ==
        "bad signature");

  for (const char* alg : {"HS256", "RS256", "ES256"}) {
    INFO(alg);
    std::string good = token(alg);
    auto dot = good.find('.');
    auto last = good.rfind('.');
    std::string tampered_payload = good.substr(0, dot + 1) +
                                   b64url(R"({"sub":"admin","exp":9999999999,"topics":"*"})") +
                                   good.substr(last);
    CHECK(refusal(*v, tampered_payload) == "bad signature");
    std::string tampered_signature = good;
    tampered_signature[last + 5] = tampered_signature[last + 5] == 'A' ? 'B' : 'A';
    CHECK(refusal(*v, tampered_signature) == "bad signature");
    CHECK(refusal(*v, good.substr(0, last + 1)) == "bad signature");
  }
}

TEST_CASE("jwt: ES256 signatures must be raw r||s of 64 bytes", "[jwt]") {
  auto v = make(all_keys());
  std::string input = b64url(header("ES256")) + "." + b64url(claims());
  std::string raw = signature_for("ES256", input);
  REQUIRE(raw.size() == 64);
  CHECK(check(*v, input + "." + b64url(raw)).ok);
  CHECK(refusal(*v, input + "." + b64url(raw + '\0')) == "bad signature");
  CHECK(refusal(*v, input + "." + b64url(raw.substr(0, 63))) == "bad signature");
  CHECK(refusal(*v, input + "." + b64url(std::string(1, '\0') + raw)) == "bad signature");
  CHECK(refusal(*v, input + "." + b64url(std::string(64, '\0'))) == "bad signature");

  // The DER form OpenSSL produces natively is not JWS.
  std::string pem = fixture("ec_private.pem");
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  REQUIRE(EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) == 1);
  std::string der(128, '\0');
  std::size_t length = der.size();
  REQUIRE(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(der.data()), &length,
                         reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1);
  der.resize(length);
  CHECK(refusal(*v, input + "." + b64url(der)) == "bad signature");
}

TEST_CASE("jwt: malformed tokens are refused", "[jwt]") {
  auto v = make(all_keys());
  std::string good = token("HS256");
  auto h = b64url(header("HS256"));
  auto p = b64url(claims());
  for (const std::string& bad :
       std::vector<std::string>{"",
                                ".",
                                "..",
                                "a",
                                "a.b",
                                "a.b.c",
                                "a.b.c.d",
                                "...",
                                good + ".",
                                "." + good,
                                good + "\n",
                                " " + good,
                                "!!!." + p + ".AAAA",
                                h + "." + p + ".***",
                                h + "." + p + ".AAA=",
                                h + "." + p + ".A",
                                b64url("not json") + "." + p + ".AAAA",
                                b64url("[]") + "." + p + ".AAAA",
                                b64url(R"({"typ":"JWT"})") + "." + p + ".AAAA",
                                b64url(R"({"alg":256})") + "." + p + ".AAAA",
                                b64url(R"({"alg":"HS256"} x)") + "." + p + ".AAAA",
                                b64url("{\"alg\":\"HS256\",\"x\":\"\xff\"}") + "." + p + ".AAAA",
                                b64url(R"({"alg":"HS256","typ":"JWE"})") + "." + p + ".AAAA",
                                b64url(R"({"alg":"HS256","typ":7})") + "." + p + ".AAAA",
                                b64url(R"({"alg":"HS256","kid":7})") + "." + p + ".AAAA",
                                b64url(R"({"alg":"HS256","alg":"none"})") + "." + p + ".AAAA"}) {
    INFO(bad);
    CHECK(refusal(*v, bad) == "malformed token");
  }
  // Standard base64 characters and padding are not base64url.
  std::string std_alphabet = good;
  std_alphabet[std_alphabet.rfind('.') + 1] = '+';
  CHECK(refusal(*v, std_alphabet) == "malformed token");
  // Non-zero trailing bits would make a second encoding of the same signature.
  std::string sig =
      hmac(EVP_sha256(), kSecret256, h + "." + p);  // 32 bytes: 43 chars, 2 spare bits
  std::string encoded = b64url(sig);
  REQUIRE(encoded.size() == 43);
  CHECK(check(*v, h + "." + p + "." + encoded).ok);
  encoded.back() = static_cast<char>(encoded.back() + 1);
  CHECK(refusal(*v, h + "." + p + "." + encoded) == "malformed token");

  CHECK(refusal(*v, std::string(8193, 'a')) == "token too long");
  bool at_limit = false;
  for (std::size_t n = 6000; n < 6200 && !at_limit; ++n) {
    std::string t = token("HS256", claims(",\"pad\":\"" + std::string(n, 'x') + "\""));
    if (t.size() == kMaxJwtBytes) at_limit = check(*v, t).ok;
  }
  CHECK(at_limit);
  CHECK(refusal(*v, token("HS256", claims(",\"pad\":\"" + std::string(6200, 'x') + "\""))) ==
        "token too long");

  // The header is parsed before any signature check: deep nesting must not hurt.
  std::string deep =
      R"({"alg":"HS256","x":)" + std::string(2500, '[') + std::string(2500, ']') + "}";
  CHECK(refusal(*v, b64url(deep) + "." + p + ".AAAA") == "bad signature");
  std::string deeper = R"({"alg":"HS256","x":)" + std::string(2500, '[') + "}";
  CHECK(refusal(*v, b64url(deeper) + "." + p + ".AAAA") == "malformed token");

  CHECK(refusal(*v, b64url(R"({"alg":"HS256","crit":["exp"]})") + "." + p + ".AAAA") ==
        "unsupported critical header");
  CHECK(check(*v, make_token(R"({"alg":"HS256","typ":"jwt"})", claims(), "HS256")).ok);
  CHECK(check(*v, make_token(R"({"alg":"HS256"})", claims(), "HS256")).ok);

  // A correctly signed payload that is not a JSON object, or repeats a claim.
  CHECK(refusal(*v, token("HS256", "not json")) == "malformed token");
  CHECK(refusal(*v, token("HS256", R"(["sub"])")) == "malformed token");
  CHECK(refusal(*v, token("HS256", claims(R"(,"sub":"admin")"))) == "malformed token");
  std::string bad_b64_payload = h + ".e30=.";
  CHECK(refusal(*v, bad_b64_payload + b64url(hmac(EVP_sha256(), kSecret256, h + ".e30="))) ==
        "malformed token");
}

TEST_CASE("jwt: kid chooses among the configured keys", "[jwt]") {
  JwtRules rules;
  const std::string a(32, 'a');
  const std::string b(32, 'b');
  const std::string plain(32, 'p');
  rules.keys = {{"HS256", "key-a", a},
                {"HS256", "key-b", b},
                {"HS256", "", plain},
                {"RS256", "rsa", fixture("rsa_other_public.pem")},
                {"RS256", "rsa", fixture("rsa_public.pem")}};
  auto v = make(rules);
  auto kid = [](const std::string& id) { return header("HS256", R"(,"kid":")" + id + "\""); };
  CHECK(check(*v, make_token(kid("key-a"), claims(), "HS256", a)).ok);
  CHECK(check(*v, make_token(kid("key-b"), claims(), "HS256", b)).ok);
  CHECK(refusal(*v, make_token(kid("key-a"), claims(), "HS256", b)) == "bad signature");
  CHECK(refusal(*v, make_token(kid("key-c"), claims(), "HS256", a)) == "no key for this token");
  // Without kid, only keys without kid are tried.
  CHECK(check(*v, make_token(header("HS256"), claims(), "HS256", plain)).ok);
  CHECK(refusal(*v, make_token(header("HS256"), claims(), "HS256", a)) == "bad signature");
  CHECK(refusal(*v, make_token(kid(""), claims(), "HS256", a)) == "bad signature");
  // Several candidates: any one that verifies admits the token.
  std::string rsa_kid = header("RS256", R"(,"kid":"rsa")");
  CHECK(check(*v, make_token(rsa_kid, claims(), "RS256")).ok);
  CHECK(refusal(*v, make_token(header("RS256"), claims(), "RS256")) == "no key for this token");
  CHECK(refusal(*v, make_token(header("ES256", R"(,"kid":"rsa")"), claims(), "ES256")) ==
        "algorithm not allowed");
  CHECK(refusal(*v, make_token(header("RS256", R"(,"kid":"key-a")"), claims(), "RS256")) ==
        "no key for this token");
}

TEST_CASE("jwt: topics claim", "[jwt]") {
  auto rules = all_keys();
  auto v = make(rules);
  auto topics = [&](const std::string& json) {
    return check(*v, token("HS256", R"({"sub":"u","exp":)" + std::to_string(kNow + 60) +
                                        R"(,"topics":)" + json + "}"));
  };
  CHECK(topics(R"(["a","b.*","*"])").grant.topics == std::vector<std::string>{"a", "b.*", "*"});
  CHECK(topics(R"("a  b.* c ")").grant.topics == std::vector<std::string>{"a", "b.*", "c"});
  CHECK(topics(R"([])").ok);
  CHECK(topics(R"("")").grant.topics.empty());
  CHECK(topics(R"(["a","b..c"])").error == "claim 'topics' holds an invalid topic pattern");
  CHECK(topics(R"(["a",""])").error == "claim 'topics' holds an invalid topic pattern");
  CHECK(topics(R"("a b*")").error == "claim 'topics' holds an invalid topic pattern");
  CHECK(topics(R"("a\tb")").error == "claim 'topics' holds an invalid topic pattern");
  CHECK(topics(R"(["a",1])").error ==
        "claim 'topics' must be an array of strings or a space-separated string");
  CHECK(topics(R"({"a":1})").error ==
        "claim 'topics' must be an array of strings or a space-separated string");

  rules.topics_claim = "scope";
  auto scoped = make(rules);
  auto r = check(*scoped, token("HS256", claims(R"(,"scope":"x.* y")")));
  REQUIRE(r.ok);
  CHECK(r.grant.topics == std::vector<std::string>{"x.*", "y"});
}

TEST_CASE("jwt: create refuses keys it cannot use", "[jwt]") {
  auto one = [](const std::string& alg, const std::string& material) {
    JwtRules rules;
    rules.keys = {{"HS256", "", kSecret256}, {alg, "", material}};
    return create_error(rules);
  };
  CHECK(one("RS256", "not a pem") ==
        "key 2: RS256 needs a PEM public key: no \"BEGIN PUBLIC KEY\" or \"BEGIN CERTIFICATE\" "
        "block could be read");
  CHECK(
      one("RS256", fixture("rsa_private.pem")).starts_with("key 2: RS256 needs a PEM public key"));
  CHECK(one("RS256", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n") ==
        "key 2: RS256 needs a PEM public key: the certificate PEM could not be read");
  CHECK(one("RS256", fixture("rsa1024_public.pem")) ==
        "key 2: RS256 needs a PEM public key: the RSA key is shorter than 2048 bits");
  CHECK(one("RS256", fixture("ec_public.pem")) ==
        "key 2: RS256 needs a PEM public key: the key is not an RSA key");
  CHECK(one("ES256", fixture("rsa_public.pem")) ==
        "key 2: ES256 needs a PEM public key: the key is not an EC key");
  CHECK(one("ES256", fixture("ec_p384_public.pem")) ==
        "key 2: ES256 needs a PEM public key: the EC key is not on curve P-256");
  CHECK(one("RS512", fixture("rsa_public.pem")) ==
        "key 2: unknown algorithm 'RS512' (use HS256, HS384, HS512, RS256 or ES256)");
  CHECK(one("none", "") ==
        "key 2: unknown algorithm 'none' (use HS256, HS384, HS512, RS256 or ES256)");
  CHECK(one("hs256", kSecret256).starts_with("key 2: unknown algorithm 'hs256'"));
  CHECK(one("HS256", std::string(31, 's')) ==
        "key 2: HS256 needs a secret of at least 32 bytes (got 31)");
  CHECK(one("HS512", kSecret256) == "key 2: HS512 needs a secret of at least 64 bytes (got 32)");
  CHECK(create_error(JwtRules{}) == "no keys configured");
}
