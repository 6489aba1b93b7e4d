#include "sidecar/stream/h2_response.hpp"

#include <catch2/catch.hpp>

#include "sidecar/core/stream_protocol.hpp"
#include "sidecar/stream/http_response.hpp"

using namespace sidecar;

TEST_CASE("split_response: a refusal keeps its status, headers and body", "[h2_response]") {
  std::string text = simple_response(429, "too many", {{"Retry-After", "5"}});
  SplitResponse r = split_response(text);
  CHECK(r.status == 429);
  CHECK(r.headers == HeaderList{{"Content-Type", "text/plain; charset=utf-8"},
                                {"Content-Length", "9"},
                                {"Connection", "close"},
                                {"Cache-Control", "no-store"},
                                {"Retry-After", "5"}});
  CHECK(r.body == "too many\n");
}

TEST_CASE("split_response: a stream head has no body", "[h2_response]") {
  std::string text = stream_head(false, {{"Access-Control-Allow-Origin", "https://a.example"}});
  SplitResponse r = split_response(text);
  CHECK(r.status == 200);
  CHECK(r.body.empty());
  CHECK(r.headers.back() ==
        HeaderList::value_type{"Access-Control-Allow-Origin", "https://a.example"});
}

TEST_CASE("split_response: text without a head gives status 0", "[h2_response]") {
  CHECK(split_response("").status == 0);
  CHECK(split_response("HTTP/1.1 2\r\n\r\n").status == 0);
  CHECK(split_response("no head at all").status == 0);
}

TEST_CASE("stream protocols and HTTP/2 error codes have their labels", "[h2_response]") {
  CHECK(to_string(StreamProtocol::kH1) == "h1");
  CHECK(to_string(StreamProtocol::kH1Tls) == "h1+tls");
  CHECK(to_string(StreamProtocol::kH2) == "h2");
  CHECK(to_string(StreamProtocol::kH2c) == "h2c");
  CHECK(h2_error_name(0x0) == "no_error");
  CHECK(h2_error_name(0x7) == "refused_stream");
  CHECK(h2_error_name(0x8) == "cancel");
  CHECK(h2_error_name(0xb) == "enhance_your_calm");
  CHECK(h2_error_name(0xd) == "http_1_1_required");
  CHECK(h2_error_name(0xe) == "other");
  CHECK(h2_error_name(0xffffffff) == "other");
}
