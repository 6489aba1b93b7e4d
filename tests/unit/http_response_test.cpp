#include "sidecar/stream/http_response.hpp"

#include <catch2/catch.hpp>

using namespace sidecar;

TEST_CASE("an error response is complete and closes the connection") {
  std::string r = simple_response(404, "not found");
  CHECK(r.starts_with("HTTP/1.1 404 Not Found\r\n"));
  CHECK(r.find("Content-Length: 10\r\n") != std::string::npos);
  CHECK(r.find("Connection: close\r\n") != std::string::npos);
  CHECK(r.ends_with("\r\n\r\nnot found\n"));
}

TEST_CASE("error reasons stay on one line whatever they quote") {
  std::string r = simple_response(400, "invalid topic 'a\r\nX-Injected: 1'");
  auto body = r.substr(r.find("\r\n\r\n") + 4);
  CHECK(body == "invalid topic 'a  X-Injected: 1'\n");
}

TEST_CASE("stream heads frame by HTTP version") {
  std::string v11 = stream_head(true, {{"Vary", "Origin"}});
  CHECK(v11.starts_with("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"));
  CHECK(v11.find("Content-Type: text/event-stream") != std::string::npos);
  CHECK(v11.find("Cache-Control: no-cache\r\n") != std::string::npos);
  CHECK(v11.find("X-Accel-Buffering: no\r\n") != std::string::npos);
  CHECK(v11.find("Vary: Origin\r\n") != std::string::npos);
  std::string v10 = stream_head(false, {});
  CHECK(v10.starts_with("HTTP/1.0 200 OK\r\nConnection: close\r\n"));
  CHECK(v10.find("chunked") == std::string::npos);
}
