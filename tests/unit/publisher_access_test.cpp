#include "sidecar/ingest/publisher_access.hpp"

#include <catch2/catch.hpp>

#include "sidecar/core/crypto.hpp"

using namespace sidecar;

namespace {

constexpr std::int64_t kNow = 1800000000;

Config config() {
  Config c;
  c.publish.tokens = {
      {"plain-publisher-token-01", "", {}},
      {"sha256:" + to_hex(sha256("billing-token-0123456")), "billing", {"billing.*"}}};
  c.publish.hmac_secret = "hmac-secret";
  c.publish.hmac_topics = {"hooks.*"};
  c.publish.allowed_uids = {1000};
  c.publish.allowed_gids = {50};
  c.publish.rate = 2;
  c.publish.burst = 2;
  return c;
}

std::string sign(std::string_view ts, std::string_view target, std::string_view body) {
  return "sha256=" +
         to_hex(hmac_sha256("hmac-secret", publish_signing_string(ts, "POST", target, body)));
}

EventDraft draft(std::string topic) {
  return EventDraft{{std::move(topic)}, "", "x", std::nullopt};
}

}  // namespace

TEST_CASE("bearer tokens identify publishers and their topics") {
  PublisherAccess access(config());
  PublishCheck refusal;
  auto plain = access.authenticate_http("Bearer plain-publisher-token-01", "", "", "POST",
                                        "/publish", "", kNow, refusal);
  REQUIRE(plain);
  CHECK(plain->name == "token#1");
  CHECK(plain->topics.empty());
  auto billing = access.authenticate_http("Bearer billing-token-0123456", "", "", "POST",
                                          "/publish", "", kNow, refusal);
  REQUIRE(billing);
  CHECK(billing->name == "billing");
  CHECK(access.admit(*billing, draft("billing.invoices")).ok());
  auto other = access.admit(*billing, draft("chat.room1"));
  CHECK(other.status == 403);
  CHECK_FALSE(
      access.authenticate_http("Bearer wrong", "", "", "POST", "/publish", "", kNow, refusal));
  CHECK(refusal.status == 401);
  CHECK_FALSE(access.authenticate_http("", "", "", "POST", "/publish", "", kNow, refusal));
  CHECK(refusal.status == 401);
}

TEST_CASE("HMAC-signed requests and their replay window") {
  PublisherAccess access(config());
  PublishCheck refusal;
  std::string body = R"({"topic":"hooks.deploy","data":"x"})";
  std::string ts = std::to_string(kNow);
  auto ok = access.authenticate_http("", ts, sign(ts, "/publish", body), "POST", "/publish", body,
                                     kNow, refusal);
  REQUIRE(ok);
  CHECK(access.admit(*ok, draft("hooks.deploy")).ok());
  CHECK(access.admit(*ok, draft("chat.x")).status == 403);
  // Within the window on either side.
  CHECK(access.authenticate_http("", ts, sign(ts, "/publish", body), "POST", "/publish", body,
                                 kNow + 299, refusal));
  CHECK(access.authenticate_http("", ts, sign(ts, "/publish", body), "POST", "/publish", body,
                                 kNow - 299, refusal));
  // A replay outside the window.
  CHECK_FALSE(access.authenticate_http("", ts, sign(ts, "/publish", body), "POST", "/publish", body,
                                       kNow + 301, refusal));
  CHECK(refusal.error == "signed request timestamp outside the accepted window");
  // Anything signed changed: body, target, timestamp.
  CHECK_FALSE(access.authenticate_http("", ts, sign(ts, "/publish", body), "POST", "/publish",
                                       body + " ", kNow, refusal));
  CHECK(refusal.error == "invalid request signature");
  CHECK_FALSE(access.authenticate_http("", ts, sign(ts, "/publish", body), "POST", "/publish/x",
                                       body, kNow, refusal));
  std::string ts2 = std::to_string(kNow + 1);
  CHECK_FALSE(access.authenticate_http("", ts2, sign(ts, "/publish", body), "POST", "/publish",
                                       body, kNow, refusal));
  CHECK_FALSE(access.authenticate_http("", "", sign(ts, "/publish", body), "POST", "/publish", body,
                                       kNow, refusal));
}

TEST_CASE("HTTP publishing is refused when no credential is configured") {
  PublisherAccess access(Config{});
  PublishCheck refusal;
  CHECK_FALSE(access.authenticate_http("Bearer anything-at-all-here", "", "", "POST", "/publish",
                                       "", kNow, refusal));
  CHECK(refusal.status == 403);
}

TEST_CASE("socket peers by uid or gid") {
  PublisherAccess access(config());
  PublishCheck refusal;
  CHECK(access.authenticate_peer(1000, 1, refusal));
  CHECK(access.authenticate_peer(7, 50, refusal));
  CHECK_FALSE(access.authenticate_peer(7, 7, refusal));
  CHECK(refusal.error == "peer uid 7 gid 7 is not allowed to publish");
  CHECK(PublisherAccess(Config{}).authenticate_peer(7, 7, refusal));
}

TEST_CASE("publish rate per publisher") {
  PublisherAccess access(config());
  Publisher a{"a", {}}, b{"b", {}};
  CHECK(access.admit(a, draft("t")).ok());
  CHECK(access.admit(a, draft("t")).ok());
  auto third = access.admit(a, draft("t"));
  CHECK(third.status == 429);
  CHECK(third.retry_after >= 1);
  CHECK(access.admit(b, draft("t")).ok());  // others are unaffected
}
