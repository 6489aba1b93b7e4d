#include "sidecar/auth/signed_url.hpp"

#include <catch2/catch.hpp>

#include "sidecar/core/crypto.hpp"

using namespace sidecar;

namespace {
constexpr std::string_view kSecret = "signing-secret";
constexpr std::int64_t kNow = 1800000000;

SignedUrl make(std::string expires, std::vector<std::string> topics = {"a", "b.*"}) {
  SignedUrl u;
  u.subject = "user42";
  u.expires = std::move(expires);
  u.topics = std::move(topics);
  u.signature = signed_url_signature(kSecret, u.expires, u.subject, u.topics);
  return u;
}

std::string verify(const SignedUrl& u, std::int64_t max_lifetime = 86400) {
  std::int64_t expires_at = 0;
  return verify_signed_url(u, kSecret, kNow, max_lifetime, expires_at);
}
}  // namespace

TEST_CASE("signed URL vector") {
  // HMAC-SHA256("signing-secret", "1800000600\nuser42\na,b.*"), base64url without padding;
  // any HMAC library reproduces it.
  CHECK(signed_url_signature(kSecret, "1800000600", "user42", {"a", "b.*"}) ==
        base64url_encode(hmac_sha256(kSecret, "1800000600\nuser42\na,b.*")));
  CHECK(signed_url_signature(kSecret, "1800000600", "user42", {"a", "b.*"}).find('=') ==
        std::string::npos);
}

TEST_CASE("a valid signed URL grants until it expires") {
  SignedUrl u = make("1800000600");
  std::int64_t expires_at = 0;
  CHECK(verify_signed_url(u, kSecret, kNow, 86400, expires_at).empty());
  CHECK(expires_at == 1800000600);
}

TEST_CASE("expired, tampered and overlong URLs are refused") {
  CHECK(verify(make("1799999999")) == "signed URL expired");
  CHECK(verify(make(std::to_string(kNow))) == "signed URL expired");
  SignedUrl topic = make("1800000600");
  topic.topics = {"a", "c.*"};
  CHECK(verify(topic) == "invalid signature");
  SignedUrl order = make("1800000600");
  order.topics = {"b.*", "a"};
  CHECK(verify(order) == "invalid signature");
  SignedUrl subject = make("1800000600");
  subject.subject = "admin";
  CHECK(verify(subject) == "invalid signature");
  SignedUrl later = make("1800000600");
  later.expires = "1900000600";
  CHECK(verify(later) == "invalid signature");
  SignedUrl garbage = make("1800000600");
  garbage.signature = "!!!";
  CHECK(verify(garbage) == "invalid signature");
  CHECK(verify(make("1800090000"), 3600) == "signed URL expires too far in the future");
  SignedUrl bad_expiry = make("soon");
  CHECK(verify(bad_expiry) == "signed URL needs subject and expires");
}
