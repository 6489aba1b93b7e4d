#include <catch2/catch.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "loopback_http.hpp"
#include "sidecar/auth/access.hpp"
#include "sidecar/core/crypto.hpp"
#include "sidecar/core/wall_clock.hpp"
#include "topic_patterns.hpp"

using namespace sidecar;
using namespace std::chrono_literals;
using sidecar::test::patterns;

namespace {

const std::string kOrigin = "https://app.example.com";
const std::string kAliceToken = "alice-plain-token-0123456789";
const std::string kBobToken = "bob-hashed-token-abcdefghij";
const std::string kJwtSecret(32, 'k');
const std::string kUrlSecret = "signed-url-secret-0123456789";

Config base_config() {
  Config c;
  c.cors.allow_origins = {kOrigin, "https://*.example.org"};
  c.access.public_topics = {"public.*", "status"};
  c.access.tokens = {
      {kAliceToken, "alice", {"chat.*", "user.alice"}},
      {"sha256:" + to_hex(sha256(kBobToken)), "bob", {"orders.bob.*"}},
      {"static.with.dots", "dotty", {"dots"}},
  };
  return c;
}

Config with_jwt(Config c) {
  JwtKeyConfig key;
  key.algorithm = "HS256";
  key.material = kJwtSecret;
  c.access.jwt.keys = {key};
  return c;
}

Config with_signed_urls(Config c) {
  c.access.signed_urls.secret = kUrlSecret;
  c.access.signed_urls.max_lifetime = 3600s;
  return c;
}

// An HS256 token over `claims` (a JSON object), as an app issuing tokens makes it.
std::string jwt(const std::string& claims, const std::string& secret = kJwtSecret) {
  std::string input =
      base64url_encode(R"({"alg":"HS256","typ":"JWT"})") + "." + base64url_encode(claims);
  return input + "." + base64url_encode(hmac_sha256(secret, input));
}

SignedUrl signed_url(const std::string& subject, std::int64_t expires,
                     std::vector<std::string> topics, const std::string& secret = kUrlSecret) {
  SignedUrl u;
  u.subject = subject;
  u.expires = std::to_string(expires);
  u.topics = std::move(topics);
  u.signature = signed_url_signature(secret, u.expires, u.subject, u.topics);
  return u;
}

AccessRequest request(std::initializer_list<const char*> topics, std::string token = "",
                      std::string origin = kOrigin) {
  AccessRequest r;
  r.origin = std::move(origin);
  r.token = std::move(token);
  r.peer = "203.0.113.7";
  r.topics = patterns(topics);
  return r;
}

// A policy for one loop, as a worker holds it; the loop outlives it.
struct Policy {
  EventBasePtr base{event_base_new()};
  std::unique_ptr<AccessPolicy> policy;

  explicit Policy(const Config& config) {
    REQUIRE(access_config_problems(config).empty());
    policy = make_access_policy(config, base.get());
    REQUIRE(policy);
  }

  // Methods that ask no other service decide before decide() returns.
  AccessDecision decide(const AccessRequest& r) {
    std::optional<AccessDecision> out;
    policy->decide(r, [&](AccessDecision d) { out = std::move(d); });
    REQUIRE(out);
    return *out;
  }
};

std::string header(const HeaderList& headers, const std::string& name) {
  for (const auto& [n, v] : headers) {
    if (n == name) return v;
  }
  return "<absent>";
}

}  // namespace

TEST_CASE("access: the origin is checked before any credential", "[access_policy]") {
  Policy p(base_config());
  SECTION("a listed origin, exact or by wildcard") {
    CHECK(p.decide(request({"public.news"})).allowed());
    CHECK(p.decide(request({"public.news"}, "", "https://shop.example.org")).allowed());
  }
  SECTION("an unlisted origin is refused with 403, even with valid credentials") {
    for (const char* origin : {"https://evil.com", "https://example.org", "http://app.example.com",
                               "https://app.example.com:8443", "null"}) {
      INFO(origin);
      AccessDecision d = p.decide(request({"chat.room1"}, kAliceToken, origin));
      CHECK(d.status == 403);
      CHECK(d.reason == "origin not allowed (not in cors.allow_origins)");
      CHECK(d.method == AccessMethod::kNone);
      CHECK(d.subject.empty());
      CHECK(d.cors_headers.empty());
    }
  }
  SECTION("no Origin header (not a browser) is accepted by default") {
    AccessDecision d = p.decide(request({"chat.room1"}, kAliceToken, ""));
    CHECK(d.allowed());
    CHECK(d.subject == "alice");
    CHECK(d.cors_headers.empty());
  }
}

TEST_CASE("access: without an Origin header when allow_no_origin is off, 403", "[access_policy]") {
  Config c = base_config();
  c.cors.allow_no_origin = false;
  Policy p(c);
  AccessDecision d = p.decide(request({"public.news"}, "", ""));
  CHECK(d.status == 403);
  CHECK(d.reason == "requests without an Origin header are not accepted");
  CHECK(p.decide(request({"public.news"})).allowed());
}

TEST_CASE("access: public topics are open to anyone; others need credentials", "[access_policy]") {
  Policy p(base_config());
  const std::vector<TopicPattern> open[] = {patterns({"public.news"}), patterns({"status"}),
                                            patterns({"public.*"}),
                                            patterns({"public.a.b.c", "status"})};
  for (const auto& topics : open) {
    AccessRequest r = request({});
    r.topics = topics;
    AccessDecision d = p.decide(r);
    INFO(r.topics[0].text());
    CHECK(d.status == 200);
    CHECK(d.subject == "anonymous");
    CHECK(d.method == AccessMethod::kAnonymous);
    CHECK_FALSE(d.expires_at);
    CHECK(d.reason.empty());
  }
  struct Row {
    std::vector<TopicPattern> topics;
    std::string reason;
  };
  const Row rows[] = {
      {patterns({"chat.room1"}), "topic 'chat.room1' requires credentials"},
      {patterns({"public.news", "chat.room1"}), "topic 'chat.room1' requires credentials"},
      {patterns({"*"}), "topic '*' requires credentials"},            // wider than public.*
      {patterns({"public"}), "topic 'public' requires credentials"},  // not below public.
      {patterns({"status.x"}), "topic 'status.x' requires credentials"},
      {patterns({"statusx"}), "topic 'statusx' requires credentials"},
  };
  for (const Row& row : rows) {
    INFO(row.reason);
    AccessRequest r = request({});
    r.topics = row.topics;
    AccessDecision d = p.decide(r);
    CHECK(d.status == 401);
    CHECK(d.reason == row.reason);
    CHECK(d.subject.empty());
  }
}

TEST_CASE("access: static tokens, plain and sha256:, grant a subject and topics",
          "[access_policy]") {
  Policy p(base_config());
  AccessDecision alice = p.decide(request({"chat.room1", "user.alice"}, kAliceToken));
  CHECK(alice.status == 200);
  CHECK(alice.subject == "alice");
  CHECK(alice.method == AccessMethod::kToken);
  CHECK_FALSE(alice.expires_at);
  // Patterns inside the grant, and the grant together with public topics.
  CHECK(p.decide(request({"chat.*"}, kAliceToken)).allowed());
  CHECK(p.decide(request({"chat.a.b", "public.news", "status"}, kAliceToken)).allowed());

  AccessDecision bob = p.decide(request({"orders.bob.1"}, kBobToken));
  CHECK(bob.status == 200);
  CHECK(bob.subject == "bob");
  CHECK(bob.method == AccessMethod::kToken);

  // A static token is a static token even when it looks like a JWT.
  AccessDecision dotty = p.decide(request({"dots"}, "static.with.dots"));
  CHECK(dotty.subject == "dotty");
  CHECK(dotty.method == AccessMethod::kToken);
}

TEST_CASE("access: topics beyond a token's grant are refused with 403", "[access_policy]") {
  Policy p(base_config());
  struct Row {
    std::vector<TopicPattern> topics;
    std::string token;
    std::string topic;
  };
  const Row rows[] = {
      {patterns({"user.bob"}), kAliceToken, "user.bob"},
      {patterns({"chat.room1", "user.alice.x"}), kAliceToken, "user.alice.x"},
      {patterns({"*"}), kAliceToken, "*"},
      {patterns({"chat"}), kAliceToken, "chat"},
      {patterns({"orders.*"}), kBobToken, "orders.*"},
      {patterns({"chat.room1"}), kBobToken, "chat.room1"},
  };
  for (const Row& row : rows) {
    INFO(row.topic);
    AccessRequest r = request({}, row.token);
    r.topics = row.topics;
    AccessDecision d = p.decide(r);
    CHECK(d.status == 403);
    CHECK(d.reason == "topic '" + row.topic + "' is not granted to these credentials");
    CHECK(d.method == AccessMethod::kToken);
  }
}

TEST_CASE("access: unknown tokens are refused with 401", "[access_policy]") {
  Policy p(base_config());
  for (const std::string& token : {std::string("wrong"), kAliceToken + "x", kAliceToken.substr(1),
                                   "sha256:" + to_hex(sha256(kBobToken)), to_hex(sha256(kBobToken)),
                                   jwt(R"({"sub":"mallory"})")}) {
    INFO(token);
    AccessDecision d = p.decide(request({"chat.room1"}, token));
    CHECK(d.status == 401);
    CHECK(d.reason == "invalid credentials");
    CHECK(d.subject.empty());
  }
  // A presented credential is judged even when the topics are public.
  CHECK(p.decide(request({"public.news"}, "wrong")).status == 401);
}

TEST_CASE("access: a JWT grants its subject and topics until exp plus leeway", "[access_policy]") {
  Policy p(with_jwt(base_config()));
  const std::int64_t exp = unix_seconds() + 600;
  std::string token = jwt(R"({"sub":"carol","exp":)" + std::to_string(exp) +
                          R"(,"topics":["chat.*","user.carol"]})");
  AccessDecision d = p.decide(request({"chat.room1", "user.carol", "public.news"}, token));
  CHECK(d.status == 200);
  CHECK(d.subject == "carol");
  CHECK(d.method == AccessMethod::kJwt);
  REQUIRE(d.expires_at);
  CHECK(*d.expires_at == exp + 30);  // default leeway: 30 s

  AccessDecision beyond = p.decide(request({"user.alice"}, token));
  CHECK(beyond.status == 403);
  CHECK(beyond.reason == "topic 'user.alice' is not granted to these credentials");
  CHECK(beyond.method == AccessMethod::kJwt);

  // Static tokens still work beside JWTs.
  CHECK(p.decide(request({"chat.room1"}, kAliceToken)).method == AccessMethod::kToken);
}

TEST_CASE("access: the leeway given to a stream follows the configuration", "[access_policy]") {
  Config c = with_jwt(base_config());
  c.access.jwt.leeway = 5000ms;
  Policy p(c);
  const std::int64_t exp = unix_seconds() + 600;
  AccessDecision d =
      p.decide(request({"public.x"}, jwt(R"({"sub":"carol","exp":)" + std::to_string(exp) + "}")));
  REQUIRE(d.expires_at);
  CHECK(*d.expires_at == exp + 5);
}

TEST_CASE("access: a JWT without the topics claim grants only public topics", "[access_policy]") {
  Policy p(with_jwt(base_config()));
  std::string token = jwt(R"({"sub":"carol","exp":)" + std::to_string(unix_seconds() + 600) + "}");
  AccessDecision pub = p.decide(request({"public.news"}, token));
  CHECK(pub.status == 200);
  CHECK(pub.subject == "carol");
  CHECK(pub.method == AccessMethod::kJwt);
  AccessDecision chat = p.decide(request({"chat.room1"}, token));
  CHECK(chat.status == 403);
  CHECK(chat.method == AccessMethod::kJwt);
}

TEST_CASE("access: JWTs that do not verify are refused with 401 and the reason",
          "[access_policy]") {
  Policy p(with_jwt(base_config()));
  const std::string exp = std::to_string(unix_seconds() + 600);
  struct Row {
    std::string token;
    std::string reason;
  };
  const Row rows[] = {
      {jwt(R"({"sub":"carol","exp":)" + exp + "}", std::string(32, 'x')), "bad signature"},
      {jwt(R"({"sub":"carol","exp":)" + std::to_string(unix_seconds() - 3600) + "}"),
       "token expired"},
      {jwt(R"({"sub":"carol"})"), "token has no expiry"},
      {jwt(R"({"exp":)" + exp + "}"), "token has no subject"},
      {"a.b.c", "malformed token"},
  };
  for (const Row& row : rows) {
    INFO(row.reason);
    AccessDecision d = p.decide(request({"public.news"}, row.token));
    CHECK(d.status == 401);
    CHECK(d.reason == row.reason);
    CHECK(d.method == AccessMethod::kJwt);
  }
  // Not JWT-shaped and not a static token.
  AccessDecision d = p.decide(request({"chat.room1"}, "one.dot"));
  CHECK(d.status == 401);
  CHECK(d.reason == "invalid credentials");
}

TEST_CASE("access: a signed URL grants its subject and topics until it expires",
          "[access_policy]") {
  Policy p(with_signed_urls(base_config()));
  const std::int64_t expires = unix_seconds() + 600;
  AccessRequest r = request({"chat.room1", "user.dave"});
  r.signed_url = signed_url("dave", expires, {"chat.room1", "user.dave"});
  AccessDecision d = p.decide(r);
  CHECK(d.status == 200);
  CHECK(d.subject == "dave");
  CHECK(d.method == AccessMethod::kSignedUrl);
  REQUIRE(d.expires_at);
  CHECK(*d.expires_at == expires);

  // The signed topics are what is granted: public topics come on top, others do not.
  AccessRequest more = request({"chat.room1", "public.news"});
  more.signed_url = signed_url("dave", expires, {"chat.room1"});
  CHECK(p.decide(more).allowed());
  AccessRequest other = request({"chat.room2"});
  other.signed_url = signed_url("dave", expires, {"chat.room1"});
  AccessDecision refused = p.decide(other);
  CHECK(refused.status == 403);
  CHECK(refused.reason == "topic 'chat.room2' is not granted to these credentials");
  CHECK(refused.method == AccessMethod::kSignedUrl);
}

TEST_CASE("access: signed URLs that do not verify are refused with 401", "[access_policy]") {
  Policy p(with_signed_urls(base_config()));
  const std::int64_t now = unix_seconds();
  auto refused = [&](SignedUrl url) {
    AccessRequest r = request({"chat.room1"});
    r.signed_url = std::move(url);
    AccessDecision d = p.decide(r);
    CHECK(d.status == 401);
    CHECK(d.method == AccessMethod::kSignedUrl);
    return d.reason;
  };
  SignedUrl tampered = signed_url("dave", now + 600, {"chat.room1"});
  tampered.subject = "admin";
  CHECK(refused(tampered) == "invalid signature");
  SignedUrl wider = signed_url("dave", now + 600, {"chat.room1"});
  wider.topics = {"chat.*"};
  CHECK(refused(wider) == "invalid signature");
  CHECK(refused(signed_url("dave", now + 600, {"chat.room1"}, "another-secret")) ==
        "invalid signature");
  CHECK(refused(signed_url("dave", now - 1, {"chat.room1"})) == "signed URL expired");
  CHECK(refused(signed_url("dave", now + 7200, {"chat.room1"})) ==
        "signed URL expires too far in the future");
  SignedUrl no_subject = signed_url("", now + 600, {"chat.room1"});
  CHECK(refused(no_subject) == "signed URL needs subject and expires");
}

TEST_CASE("access: a signed URL is the credential, even beside a valid token", "[access_policy]") {
  Policy p(with_signed_urls(base_config()));
  AccessRequest r = request({"chat.room1"}, kAliceToken);
  r.signed_url = signed_url("dave", unix_seconds() - 10, {"chat.room1"});
  AccessDecision d = p.decide(r);
  CHECK(d.status == 401);
  CHECK(d.reason == "signed URL expired");
}

TEST_CASE("access: a signed URL without signed URLs configured is refused", "[access_policy]") {
  Policy p(base_config());
  AccessRequest r = request({"public.news"});
  r.signed_url = signed_url("dave", unix_seconds() + 600, {"public.news"});
  AccessDecision d = p.decide(r);
  CHECK(d.status == 401);
  CHECK(d.reason == "signed URLs are not enabled");
}

TEST_CASE("access: JWT keys that cannot be used are config problems where the file is named",
          "[access_policy]") {
  CHECK(access_config_problems(base_config()).empty());
  CHECK(access_config_problems(with_jwt(base_config())).empty());
  Config c = with_jwt(base_config());
  c.source = "site.yaml";
  c.access.jwt.keys.push_back(c.access.jwt.keys[0]);
  for (auto& key : c.access.jwt.keys) key.file = "/etc/keys/hs.key";
  c.access.jwt.keys[0].material = "short";
  c.access.jwt.keys[0].file_line = 7;
  c.access.jwt.keys[0].file_column = 15;
  c.access.jwt.keys[1].algorithm = "RS256";
  c.access.jwt.keys[1].file_line = 10;
  c.access.jwt.keys[1].file_column = 15;
  auto problems = access_config_problems(c);
  REQUIRE(problems.size() == 2);  // every unusable key, each at its own line
  CHECK(problems[0].to_string() ==
        "site.yaml:7:15: 'access.jwt.keys[0].file': /etc/keys/hs.key: HS256 needs a secret of at "
        "least 32 bytes (got 5)");
  CHECK(
      problems[1].to_string().starts_with("site.yaml:10:15: 'access.jwt.keys[1].file': "
                                          "/etc/keys/hs.key: RS256 needs a PEM public key"));
}

TEST_CASE("access: recheck after a reload keeps what is still granted", "[access_policy]") {
  Config c = with_signed_urls(with_jwt(base_config()));
  Policy before(c);
  Policy after(c);  // the same configuration, loaded again
  std::vector<AccessRequest> streams;
  streams.push_back(request({"chat.room1"}, kAliceToken));
  streams.push_back(request({"public.news"}));
  streams.push_back(
      request({"chat.x"}, jwt(R"({"sub":"carol","exp":)" + std::to_string(unix_seconds() + 600) +
                              R"(,"topics":["chat.*"]})")));
  AccessRequest url = request({"chat.room1"});
  url.signed_url = signed_url("dave", unix_seconds() + 600, {"chat.room1"});
  streams.push_back(url);
  for (const AccessRequest& r : streams) {
    AccessDecision admitted = before.decide(r);
    REQUIRE(admitted.allowed());
    AccessDecision now = after.policy->recheck(r, admitted);
    INFO(to_string(admitted.method));
    CHECK(now.allowed());
    CHECK(now.subject == admitted.subject);
    CHECK(now.method == admitted.method);
    CHECK(now.expires_at == admitted.expires_at);
  }
}

TEST_CASE("access: recheck after a reload revokes what was withdrawn", "[access_policy]") {
  Policy before(base_config());
  const AccessRequest alice = request({"chat.room1"}, kAliceToken);
  const AccessDecision admitted = before.decide(alice);
  REQUIRE(admitted.allowed());

  SECTION("the token was removed") {
    Config c = base_config();
    c.access.tokens.erase(c.access.tokens.begin());
    Policy after(c);
    AccessDecision d = after.policy->recheck(alice, admitted);
    CHECK(d.status == 401);
    CHECK(d.reason == "invalid credentials");
  }
  SECTION("the token no longer grants the topic") {
    Config c = base_config();
    c.access.tokens[0].topics = {"user.alice"};
    Policy after(c);
    AccessDecision d = after.policy->recheck(alice, admitted);
    CHECK(d.status == 403);
    CHECK(d.reason == "topic 'chat.room1' is not granted to these credentials");
  }
  SECTION("the origin is no longer allowed") {
    Config c = base_config();
    c.cors.allow_origins = {"https://other.example.com"};
    Policy after(c);
    AccessDecision d = after.policy->recheck(alice, admitted);
    CHECK(d.status == 403);
    CHECK(d.reason == "origin not allowed (not in cors.allow_origins)");
  }
  SECTION("a topic is no longer public") {
    const AccessRequest anonymous = request({"public.news"});
    const AccessDecision open = before.decide(anonymous);
    REQUIRE(open.allowed());
    Config c = base_config();
    c.access.public_topics = {"status"};
    Policy after(c);
    AccessDecision d = after.policy->recheck(anonymous, open);
    CHECK(d.status == 401);
    CHECK(d.reason == "topic 'public.news' requires credentials");
  }
  SECTION("JWTs are no longer accepted") {
    Policy with(with_jwt(base_config()));
    AccessRequest r = request({"public.news"}, jwt(R"({"sub":"carol","exp":)" +
                                                   std::to_string(unix_seconds() + 600) + "}"));
    AccessDecision jwt_admitted = with.decide(r);
    REQUIRE(jwt_admitted.allowed());
    AccessDecision d = before.policy->recheck(r, jwt_admitted);
    CHECK(d.status == 401);
    CHECK(d.reason == "invalid credentials");
  }
  SECTION("the static token was replaced by delegation") {
    Config c = base_config();
    c.access.tokens.clear();
    c.access.delegate.url = "http://127.0.0.1:9/auth";  // never called by a recheck
    Policy after(c);
    AccessDecision d = after.policy->recheck(alice, admitted);
    CHECK(d.status == 401);
    CHECK(d.reason == "credentials no longer accepted");
  }
}

TEST_CASE("access: a delegated grant stands at recheck while delegation is configured",
          "[access_policy]") {
  AccessDecision delegated;
  delegated.subject = "erin";
  delegated.method = AccessMethod::kDelegate;
  const AccessRequest r = request({"chat.room1"});

  Config c = base_config();
  c.access.delegate.url = "http://127.0.0.1:9/auth";  // never called by a recheck
  Policy still(c);
  AccessDecision kept = still.policy->recheck(r, delegated);
  CHECK(kept.allowed());
  CHECK(kept.subject == "erin");
  CHECK(kept.method == AccessMethod::kDelegate);
  // Its origin is still checked.
  AccessDecision moved =
      still.policy->recheck(request({"chat.room1"}, "", "https://evil.com"), delegated);
  CHECK(moved.status == 403);

  Policy gone(base_config());
  AccessDecision d = gone.policy->recheck(r, delegated);
  CHECK(d.status == 403);
  CHECK(d.reason == "delegated access is no longer configured");
}

TEST_CASE("access: preflight answers allowed origins with CORS headers", "[access_policy]") {
  Config c = base_config();
  c.cors.allow_credentials = true;
  c.cors.max_age = 120s;
  Policy p(c);
  AccessDecision ok = p.policy->preflight(kOrigin);
  CHECK(ok.allowed());
  CHECK(ok.cors_headers ==
        HeaderList{
            {"Access-Control-Allow-Origin", kOrigin},
            {"Vary", "Origin"},
            {"Access-Control-Allow-Credentials", "true"},
            {"Access-Control-Allow-Methods", "GET, OPTIONS"},
            {"Access-Control-Allow-Headers", "Authorization, Last-Event-ID, Cache-Control"},
            {"Access-Control-Max-Age", "120"},
        });
  AccessDecision refused = p.policy->preflight("https://evil.com");
  CHECK(refused.status == 403);
  CHECK(refused.reason == "origin not allowed (not in cors.allow_origins)");
  CHECK(refused.cors_headers.empty());
  // Without Origin there is nothing to echo, only the methods and headers.
  AccessDecision none = p.policy->preflight("");
  CHECK(none.allowed());
  CHECK(header(none.cors_headers, "Access-Control-Allow-Origin") == "<absent>");
  CHECK(header(none.cors_headers, "Access-Control-Allow-Methods") == "GET, OPTIONS");

  c.cors.allow_no_origin = false;
  Policy strict(c);
  CHECK(strict.policy->preflight("").status == 403);
}

TEST_CASE("access: CORS headers go with decisions, credentials only for listed origins",
          "[access_policy]") {
  SECTION("credentials allowed") {
    Config c = base_config();
    c.cors.allow_credentials = true;
    c.cors.allow_origins.push_back("*");
    Policy p(c);
    AccessDecision listed = p.decide(request({"chat.room1"}, kAliceToken));
    CHECK(listed.cors_headers == HeaderList{{"Access-Control-Allow-Origin", kOrigin},
                                            {"Vary", "Origin"},
                                            {"Access-Control-Allow-Credentials", "true"}});
    AccessDecision sub = p.decide(request({"public.x"}, "", "https://a.b.example.org"));
    CHECK(header(sub.cors_headers, "Access-Control-Allow-Origin") == "https://a.b.example.org");
    CHECK(header(sub.cors_headers, "Access-Control-Allow-Credentials") == "true");
    // Allowed only by "*": a star, never credentials.
    AccessDecision any = p.decide(request({"public.x"}, "", "https://elsewhere.net"));
    CHECK(any.allowed());
    CHECK(any.cors_headers == HeaderList{{"Access-Control-Allow-Origin", "*"}});
    CHECK(p.policy->preflight("https://elsewhere.net").cors_headers.at(0) ==
          std::pair<std::string, std::string>{"Access-Control-Allow-Origin", "*"});
  }
  SECTION("credentials not allowed") {
    Policy p(base_config());
    AccessDecision d = p.decide(request({"chat.room1"}, kAliceToken));
    CHECK(d.cors_headers ==
          HeaderList{{"Access-Control-Allow-Origin", kOrigin}, {"Vary", "Origin"}});
  }
  SECTION("refusals of an allowed origin carry them too, so the browser can read the reason") {
    Policy p(base_config());
    AccessDecision unauthorized = p.decide(request({"chat.room1"}));
    CHECK(unauthorized.status == 401);
    CHECK(header(unauthorized.cors_headers, "Access-Control-Allow-Origin") == kOrigin);
    AccessDecision forbidden = p.decide(request({"user.bob"}, kAliceToken));
    CHECK(forbidden.status == 403);
    CHECK(header(forbidden.cors_headers, "Access-Control-Allow-Origin") == kOrigin);
  }
  SECTION("no Origin, no CORS headers") {
    Policy p(base_config());
    CHECK(p.decide(request({"public.x"}, "", "")).cors_headers.empty());
  }
}

// ---- Delegation, as the policy combines it with the other methods ----

namespace {

// The app's authorization endpoint on loopback, answering every call with `status` and `body`.
struct App {
  int status = 200;
  std::string body = R"({"subject":"erin","topics":["chat.room1"]})";
  test::LoopbackServer server;

  explicit App(event_base* base)
      : server(base, [this](evhttp_request* req) { test::reply(req, status, body); }) {}
  int calls() const { return server.requests(); }
};

// A policy with delegation to a real app; the app and the loop outlive the policy.
struct DelegatingPolicy {
  test::EventLoop loop;
  App app{loop.base.get()};
  std::unique_ptr<AccessPolicy> policy;

  explicit DelegatingPolicy(Config config) {
    config.access.delegate.url = app.server.url("/auth");
    config.access.delegate.cache_ttl = 0ms;  // every request reaches the app
    policy = make_access_policy(config, loop.base.get());
  }

  // Runs the loop until the decision arrives.
  AccessDecision decide(const AccessRequest& r, bool* at_once = nullptr) {
    std::optional<AccessDecision> out;
    bool returned = false;
    bool early = false;
    policy->decide(r, [&](AccessDecision d) {
      early = !returned;
      out = std::move(d);
    });
    returned = true;
    REQUIRE(loop.run_until([&] { return out.has_value(); }));
    if (at_once) *at_once = early;
    return *out;
  }
};

}  // namespace

TEST_CASE("access: what no local method admits is asked of the app", "[access_policy]") {
  DelegatingPolicy p(base_config());
  bool at_once = true;
  AccessDecision d = p.decide(request({"chat.room1", "public.news"}), &at_once);
  CHECK_FALSE(at_once);
  CHECK(p.app.calls() == 1);
  CHECK(d.status == 200);
  CHECK(d.subject == "erin");
  CHECK(d.method == AccessMethod::kDelegate);
  CHECK_FALSE(d.expires_at);
  CHECK(header(d.cors_headers, "Access-Control-Allow-Origin") == kOrigin);

  // An unknown token goes to the app as well (it may be the app's own session token).
  CHECK(p.decide(request({"chat.room1"}, "app-session-token")).subject == "erin");
  CHECK(p.app.calls() == 2);
}

TEST_CASE("access: the app's grant must cover every requested topic", "[access_policy]") {
  DelegatingPolicy p(base_config());
  AccessDecision d = p.decide(request({"chat.room1", "chat.room2"}));
  CHECK(d.status == 403);
  CHECK(d.reason == "topic 'chat.room2' is not granted to these credentials");
  CHECK(d.method == AccessMethod::kDelegate);
  CHECK(header(d.cors_headers, "Access-Control-Allow-Origin") == kOrigin);
}

TEST_CASE("access: the app's refusals and failures pass through with CORS headers",
          "[access_policy]") {
  DelegatingPolicy p(base_config());
  p.app.status = 403;
  p.app.body = R"({"reason":"not a member"})";
  AccessDecision refused = p.decide(request({"chat.room1"}));
  CHECK(refused.status == 403);
  CHECK(refused.reason == "not a member");
  CHECK(header(refused.cors_headers, "Access-Control-Allow-Origin") == kOrigin);
  p.app.status = 500;
  AccessDecision failed = p.decide(request({"chat.room1"}));
  CHECK(failed.status == 503);
  CHECK(header(failed.cors_headers, "Access-Control-Allow-Origin") == kOrigin);
}

TEST_CASE("access: local methods decide without asking the app", "[access_policy]") {
  DelegatingPolicy p(base_config());
  bool at_once = false;
  CHECK(p.decide(request({"chat.room1"}, kAliceToken), &at_once).method == AccessMethod::kToken);
  CHECK(at_once);
  CHECK(p.decide(request({"public.news"}), &at_once).method == AccessMethod::kAnonymous);
  CHECK(at_once);
  // A known token's refusal is final: its topics are not topped up by the app.
  AccessDecision beyond = p.decide(request({"user.bob"}, kAliceToken), &at_once);
  CHECK(at_once);
  CHECK(beyond.status == 403);
  CHECK(beyond.method == AccessMethod::kToken);
  // The origin is refused before the app is asked.
  CHECK(p.decide(request({"chat.room1"}, "", "https://evil.com"), &at_once).status == 403);
  CHECK(at_once);
  CHECK(p.app.calls() == 0);
}
