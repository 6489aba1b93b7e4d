#include "sidecar/stream/browser_script.hpp"

#include <catch2/catch.hpp>

using namespace sidecar;

namespace {
HttpRequest request(std::string method, HeaderList headers = {}) {
  HttpRequest r;
  r.method = std::move(method);
  r.target = "/sidecar.js";
  r.headers = std::move(headers);
  return r;
}
}  // namespace

TEST_CASE("If-None-Match names a tag: exactly, weakly, in a list, or as *") {
  const std::string_view tag = "\"0123456789abcdef\"";
  CHECK(if_none_match_hits("\"0123456789abcdef\"", tag));
  CHECK(if_none_match_hits("W/\"0123456789abcdef\"", tag));
  CHECK(if_none_match_hits("\"aaaa\", \"0123456789abcdef\"", tag));
  CHECK(if_none_match_hits(" \"aaaa\" ,\t\"0123456789abcdef\" ", tag));
  CHECK(if_none_match_hits("*", tag));
  CHECK_FALSE(if_none_match_hits("", tag));
  CHECK_FALSE(if_none_match_hits("\"aaaa\"", tag));
  CHECK_FALSE(if_none_match_hits("0123456789abcdef", tag));  // unquoted is another tag
  CHECK_FALSE(if_none_match_hits("\"0123456789abcdef", tag));
}

TEST_CASE("the embedded script is the module, tagged by its digest") {
  CHECK(embedded::kSidecarJs.find("export class SidecarStream") != std::string_view::npos);
  const std::string& etag = browser_script_etag();
  CHECK(etag.size() == 18);
  CHECK(etag.front() == '"');
  CHECK(etag.back() == '"');
  CHECK(&etag == &browser_script_etag());
}

TEST_CASE("GET serves the script, HEAD its head, a current copy 304, other methods 405") {
  auto get = serve_browser_script(request("GET"));
  REQUIRE(std::holds_alternative<Served>(get));
  const auto& ok = std::get<Served>(get);
  CHECK(ok.status == 200);
  CHECK(ok.head.starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(ok.head.find("Content-Type: text/javascript; charset=utf-8\r\n") != std::string::npos);
  CHECK(ok.head.find("Content-Length: " + std::to_string(embedded::kSidecarJs.size()) + "\r\n") !=
        std::string::npos);
  CHECK(ok.head.find("ETag: " + browser_script_etag() + "\r\n") != std::string::npos);
  CHECK(ok.head.find("Cache-Control: public, max-age=300\r\n") != std::string::npos);
  CHECK(ok.head.find("Access-Control-Allow-Origin: *\r\n") != std::string::npos);
  CHECK(ok.head.ends_with("\r\n\r\n"));
  CHECK(ok.body.data() == embedded::kSidecarJs.data());  // shared, not copied

  auto head = serve_browser_script(request("HEAD"));
  REQUIRE(std::holds_alternative<Served>(head));
  CHECK(std::get<Served>(head).head == ok.head);
  CHECK(std::get<Served>(head).body.empty());

  auto cached = serve_browser_script(request("GET", {{"if-none-match", browser_script_etag()}}));
  REQUIRE(std::holds_alternative<Served>(cached));
  const auto& not_modified = std::get<Served>(cached);
  CHECK(not_modified.status == 304);
  CHECK(not_modified.head.starts_with("HTTP/1.1 304 Not Modified\r\n"));
  CHECK(not_modified.head.find("ETag: " + browser_script_etag()) != std::string::npos);
  CHECK(not_modified.head.find("Content-Length") == std::string::npos);
  CHECK(not_modified.body.empty());

  auto post = serve_browser_script(request("POST"));
  REQUIRE(std::holds_alternative<Answer>(post));
  CHECK(std::get<Answer>(post).status == 405);
}
