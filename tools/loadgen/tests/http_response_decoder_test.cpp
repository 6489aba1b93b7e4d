#include "tools/loadgen/http_response_decoder.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace loadgen;
using Piece = HttpResponseDecoder::Piece;

namespace {

struct Decoded {
  bool head = false;
  bool end = false;
  bool error = false;
  std::string body;
  std::string leftover;
};

Decoded decode(HttpResponseDecoder& d, std::string_view response, size_t step) {
  Decoded out;
  for (size_t i = 0; i < response.size(); i += step) {
    std::string_view in = response.substr(i, step);
    for (;;) {
      Piece p = d.next(in);
      if (p.kind == Piece::kNeedMore) break;
      if (p.kind == Piece::kHead) out.head = true;
      if (p.kind == Piece::kBody) out.body += p.body;
      if (p.kind == Piece::kError) {
        out.error = true;
        return out;
      }
      if (p.kind == Piece::kEnd) {
        out.end = true;
        out.leftover =
            std::string(in) +
            std::string(response.substr(i + step < response.size() ? i + step : response.size()));
        return out;
      }
    }
  }
  return out;
}

}  // namespace

TEST_CASE("status, chunked body with extensions and trailers") {
  std::string r =
      "HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n"
      "5;name=v\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n";
  for (size_t step = 1; step <= r.size(); ++step) {
    HttpResponseDecoder d;
    Decoded out = decode(d, r, step);
    REQUIRE(out.head);
    REQUIRE(out.end);
    CHECK(out.body == "hello0123456789");
    CHECK(d.status() == 200);
    CHECK(d.chunked());
    CHECK(d.keep_alive());
  }
}

TEST_CASE("Content-Length bodies end exactly and leave the rest") {
  std::string r = "HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\nbodyNEXT";
  HttpResponseDecoder d;
  Decoded out = decode(d, r, r.size());
  CHECK(out.end);
  CHECK(out.body == "body");
  CHECK(out.leftover == "NEXT");
  CHECK(d.status() == 201);
}

TEST_CASE("Connection: close and HTTP/1.0 turn keep-alive off") {
  HttpResponseDecoder d;
  decode(d, "HTTP/1.1 202 Accepted\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 100);
  CHECK_FALSE(d.keep_alive());
  d.reset();
  decode(d, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 100);
  CHECK_FALSE(d.keep_alive());
}

TEST_CASE("error statuses are parsed, 1xx interim responses skipped") {
  HttpResponseDecoder d;
  Decoded out = decode(d,
                       "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Service Unavailable\r\n"
                       "Content-Length: 4\r\n\r\nbusy",
                       5);
  CHECK(out.head);
  CHECK(d.status() == 503);
  CHECK(out.body == "busy");
}

TEST_CASE("LF-only heads are accepted") {
  HttpResponseDecoder d;
  Decoded out = decode(d, "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", 1);
  CHECK(out.end);
  CHECK(out.body == "ok");
}

TEST_CASE("malformed responses are errors") {
  for (std::string r :
       {std::string("SSH-2.0-OpenSSH\r\n\r\n"), std::string("HTTP/1.1 2x0 OK\r\n\r\n"),
        std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
        std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX"),
        std::string("HTTP/1.1 200 OK\r\nbad header line\r\n\r\n")}) {
    HttpResponseDecoder d;
    CHECK(decode(d, r, 3).error);
  }
}

TEST_CASE("an oversized head is refused") {
  std::string r = "HTTP/1.1 200 OK\r\nX: " + std::string(HttpResponseDecoder::kMaxHeadBytes, 'a');
  HttpResponseDecoder d;
  CHECK(decode(d, r, 1000).error);
}

TEST_CASE("EOF ends a close-delimited body but not a chunked one") {
  HttpResponseDecoder a;
  decode(a, "HTTP/1.1 200 OK\r\n\r\npartial", 4);
  CHECK(a.finish_at_eof());
  HttpResponseDecoder b;
  decode(b, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\npar", 4);
  CHECK_FALSE(b.finish_at_eof());
}
