#include "sidecar/core/origin.hpp"

#include <catch2/catch.hpp>

#include "sidecar/auth/origin_policy.hpp"

using namespace sidecar;

namespace {
bool matches(const char* pattern, const char* origin) {
  auto p = OriginPattern::parse(pattern);
  REQUIRE(p);
  auto o = Origin::parse(origin);
  return o && p->matches(*o);
}
}  // namespace

TEST_CASE("origins parse with default ports made explicit") {
  auto o = Origin::parse("HTTPS://App.Example.com");
  REQUIRE(o);
  CHECK(o->scheme == "https");
  CHECK(o->host == "app.example.com");
  CHECK(o->port == 443);
  CHECK(Origin::parse("http://localhost:8080")->port == 8080);
  CHECK(Origin::parse("http://[::1]:9000")->host == "[::1]");
  CHECK_FALSE(Origin::parse("ftp://a.com"));
  CHECK_FALSE(Origin::parse("https://a.com/"));
  CHECK_FALSE(Origin::parse("https://user@a.com"));
  CHECK_FALSE(Origin::parse("https://a.com:0"));
  CHECK_FALSE(Origin::parse("https://a.com:99999"));
  CHECK_FALSE(Origin::parse("null"));
  CHECK_FALSE(Origin::parse(""));
}

TEST_CASE("origin matching table") {
  // pattern, origin, expected
  struct Row {
    const char* pattern;
    const char* origin;
    bool expected;
  };
  const Row rows[] = {
      {"https://app.example.com", "https://app.example.com", true},
      {"https://app.example.com", "https://app.example.com:443", true},
      {"https://app.example.com", "https://APP.example.com", true},
      {"https://app.example.com", "http://app.example.com", false},
      {"https://app.example.com", "https://app.example.com:8443", false},
      {"https://app.example.com", "https://app.example.com.evil.com", false},
      {"https://app.example.com", "https://evilapp.example.com", false},
      {"http://localhost:3000", "http://localhost:3000", true},
      {"http://localhost:3000", "http://localhost:3001", false},
      {"https://*.example.com", "https://a.example.com", true},
      {"https://*.example.com", "https://x.y.example.com", true},
      {"https://*.example.com", "https://example.com", false},
      {"https://*.example.com", "https://evilexample.com", false},
      {"https://*.example.com", "http://a.example.com", false},
      {"https://*.example.com", "https://a.example.com:8443", false},
      {"https://*.example.com", "https://a.example.com.evil.com", false},
      {"https://*.example.com:8443", "https://a.example.com:8443", true},
      {"https://*.example.com:8443", "https://a.example.com", false},
  };
  for (const auto& row : rows) {
    INFO(row.pattern << " vs " << row.origin);
    CHECK(matches(row.pattern, row.origin) == row.expected);
  }
}

TEST_CASE("malformed origin patterns are refused") {
  std::string error;
  CHECK_FALSE(OriginPattern::parse("example.com", &error));
  CHECK_FALSE(error.empty());
  CHECK_FALSE(OriginPattern::parse("https://*", &error));
  CHECK_FALSE(OriginPattern::parse("https://a.com/path", &error));
  CHECK_FALSE(OriginPattern::parse("https://*.*.com", &error));
}

TEST_CASE("CORS headers: exact echo with Vary, credentials never with *") {
  CorsConfig c;
  c.allow_origins = {"https://app.example.com", "https://*.example.org", "*"};
  c.allow_credentials = true;
  OriginPolicy policy(c);
  auto listed = policy.headers("https://app.example.com");
  CHECK(listed == HeaderList{{"Access-Control-Allow-Origin", "https://app.example.com"},
                             {"Vary", "Origin"},
                             {"Access-Control-Allow-Credentials", "true"}});
  auto wildcard = policy.headers("https://x.example.org");
  CHECK(wildcard.at(0).second == "https://x.example.org");
  auto any = policy.headers("https://other.net");
  CHECK(any == HeaderList{{"Access-Control-Allow-Origin", "*"}});
  CHECK(policy.refusal("https://other.net").empty());
  CHECK(policy.headers("").empty());
}

TEST_CASE("origins not allowed are refused, and missing ones by choice") {
  CorsConfig c;
  c.allow_origins = {"https://app.example.com"};
  OriginPolicy allow_missing(c);
  CHECK(allow_missing.refusal("https://app.example.com").empty());
  CHECK(allow_missing.refusal("https://evil.com") ==
        "origin not allowed (not in cors.allow_origins)");
  CHECK(allow_missing.refusal("null") == "origin not allowed (not in cors.allow_origins)");
  CHECK(allow_missing.refusal("").empty());
  c.allow_no_origin = false;
  OriginPolicy require(c);
  CHECK_FALSE(require.refusal("").empty());
  auto pre = require.preflight_headers("https://app.example.com");
  CHECK(std::find(pre.begin(), pre.end(),
                  std::pair<std::string, std::string>{
                      "Access-Control-Allow-Headers",
                      "Authorization, Last-Event-ID, Cache-Control"}) != pre.end());
  CHECK(std::find(pre.begin(), pre.end(),
                  std::pair<std::string, std::string>{"Access-Control-Max-Age", "600"}) !=
        pre.end());
}
