#include "sidecar/net/http_request.hpp"

#include <catch2/catch.hpp>

using namespace sidecar;
using namespace std::string_literals;

namespace {
HttpParse parse(std::string_view in, HttpRequest& req, std::size_t max = 8192) {
  std::string error;
  std::size_t consumed = 0;
  return parse_http_request(in, max, req, error, consumed);
}
}  // namespace

TEST_CASE("a complete request head") {
  HttpRequest req;
  std::string error;
  std::size_t consumed = 0;
  std::string in =
      "GET /events?topic=a&topic=b HTTP/1.1\r\nHost: x\r\nLast-Event-ID:  5-1 \r\n\r\nextra";
  REQUIRE(parse_http_request(in, 8192, req, error, consumed) == HttpParse::kDone);
  CHECK(consumed == in.size() - 5);
  CHECK(req.method == "GET");
  CHECK(req.path() == "/events");
  CHECK(req.query() == "topic=a&topic=b");
  CHECK(req.minor_version == 1);
  CHECK(req.header("last-event-id") == "5-1");
  CHECK(req.header("host") == "x");
  CHECK(req.header("missing").empty());
}

TEST_CASE("HTTP/1.0, bare LF line ends and leading blank lines") {
  HttpRequest req;
  REQUIRE(parse("\r\nGET /events HTTP/1.0\nA: 1\n\n", req) == HttpParse::kDone);
  CHECK(req.minor_version == 0);
  CHECK(req.header("a") == "1");
  CHECK(req.query().empty());
}

TEST_CASE("incomplete heads wait for more bytes") {
  HttpRequest req;
  CHECK(parse("GET /events HTTP/1.1\r\nHost: x\r\n", req) == HttpParse::kIncomplete);
  CHECK(parse("GET /ev", req) == HttpParse::kIncomplete);
  CHECK(parse("", req) == HttpParse::kIncomplete);
}

TEST_CASE("oversized heads are refused without waiting for their end") {
  HttpRequest req;
  std::string big = "GET /events HTTP/1.1\r\nX: " + std::string(2000, 'a');
  CHECK(parse(big, req, 1024) == HttpParse::kTooLarge);
  CHECK(parse(big + "\r\n\r\n", req, 1024) == HttpParse::kTooLarge);
}

TEST_CASE("malformed heads are refused") {
  HttpRequest req;
  CHECK(parse("GET /events\r\n\r\n", req) == HttpParse::kMalformed);
  CHECK(parse("GET  /events HTTP/1.1\r\n\r\n", req) == HttpParse::kMalformed);
  CHECK(parse("GET events HTTP/1.1\r\n\r\n", req) == HttpParse::kMalformed);
  CHECK(parse("GET /events HTTP/2.0\r\n\r\n", req) == HttpParse::kMalformed);
  CHECK(parse("G(T /events HTTP/1.1\r\n\r\n", req) == HttpParse::kMalformed);
  CHECK(parse("GET /events HTTP/1.1\r\nNo colon\r\n\r\n", req) == HttpParse::kMalformed);
  CHECK(parse("GET /events HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n", req) == HttpParse::kMalformed);
  CHECK(parse("GET /events HTTP/1.1\r\nBad Name: 1\r\n\r\n", req) == HttpParse::kMalformed);
  CHECK(parse("GET /events HTTP/1.1\r\nA: x\0y\r\n\r\n"s, req) == HttpParse::kMalformed);
}
