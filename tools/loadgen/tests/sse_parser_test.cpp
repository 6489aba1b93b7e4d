#include "tools/loadgen/sse_parser.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "tools/loadgen/http_response_decoder.hpp"

using namespace loadgen;

namespace {

struct Seen {
  std::string id, type, data;
  uint64_t data_bytes;
  bool operator==(const Seen&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Seen& s) {
  return os << "{id=" << s.id << " type=" << s.type << " data=" << s.data
            << " bytes=" << s.data_bytes << "}";
}

// Feeds `text` in pieces of `step` bytes (0: all at once).
std::vector<Seen> parse(std::string_view text, size_t step = 0) {
  SseParser p;
  std::vector<Seen> out;
  auto sink = [&](const SseEvent& e) {
    out.push_back({std::string(e.id), std::string(e.type), std::string(e.data), e.data_bytes});
  };
  if (step == 0) step = text.size() ? text.size() : 1;
  for (size_t i = 0; i < text.size(); i += step) p.feed(text.substr(i, step), sink);
  return out;
}

// The events of `text` must not depend on how it is split.
std::vector<Seen> parse_all_splits(std::string_view text) {
  std::vector<Seen> whole = parse(text);
  for (size_t step = 1; step < text.size(); ++step) REQUIRE(parse(text, step) == whole);
  for (size_t cut = 1; cut < text.size(); ++cut) {
    SseParser p;
    std::vector<Seen> out;
    auto sink = [&](const SseEvent& e) {
      out.push_back({std::string(e.id), std::string(e.type), std::string(e.data), e.data_bytes});
    };
    p.feed(text.substr(0, cut), sink);
    p.feed(text.substr(cut), sink);
    REQUIRE(out == whole);
  }
  return whole;
}

// Runs an HTTP response through the decoder and the SSE parser, `step` bytes per read.
std::vector<Seen> through_http(std::string_view response, size_t step, bool* ended = nullptr) {
  HttpResponseDecoder http;
  SseParser sse;
  std::vector<Seen> out;
  bool end = false;
  for (size_t i = 0; i < response.size() && !end; i += step) {
    std::string_view in = response.substr(i, step);
    for (;;) {
      auto piece = http.next(in);
      if (piece.kind == HttpResponseDecoder::Piece::kNeedMore) break;
      REQUIRE(piece.kind != HttpResponseDecoder::Piece::kError);
      if (piece.kind == HttpResponseDecoder::Piece::kHead) REQUIRE(http.status() == 200);
      if (piece.kind == HttpResponseDecoder::Piece::kEnd) {
        end = true;
        break;
      }
      if (piece.kind == HttpResponseDecoder::Piece::kBody) {
        sse.feed(piece.body, [&](const SseEvent& e) {
          out.push_back(
              {std::string(e.id), std::string(e.type), std::string(e.data), e.data_bytes});
        });
      }
    }
  }
  if (ended) *ended = end;
  return out;
}

std::string chunked(const std::vector<std::string>& chunks) {
  std::string out =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
  char size[32];
  for (const std::string& c : chunks) {
    std::snprintf(size, sizeof size, "%zx\r\n", c.size());
    out += size;
    out += c;
    out += "\r\n";
  }
  return out;
}

}  // namespace

TEST_CASE("an event is dispatched on the blank line, with id and type") {
  auto events = parse_all_splits("id: 7-1\nevent: update\ndata: hello\n\n");
  REQUIRE(events.size() == 1);
  CHECK(events[0] == Seen{"7-1", "update", "hello", 5});
}

TEST_CASE("multi-line data is joined with LF") {
  auto events = parse_all_splits("data: a\ndata: b\ndata:\ndata:  c\n\n");
  REQUIRE(events.size() == 1);
  CHECK(events[0].data == "a\nb\n\n c");
  CHECK(events[0].type == "message");
}

TEST_CASE("CRLF, LF and CR all end lines, also when split between feeds") {
  auto events = parse_all_splits("data: one\r\n\r\ndata: two\r\rdata: three\n\ndata: four\r\n\n");
  REQUIRE(events.size() == 4);
  CHECK(events[0].data == "one");
  CHECK(events[1].data == "two");
  CHECK(events[2].data == "three");
  CHECK(events[3].data == "four");
}

TEST_CASE("comments, retry and blank lines without data dispatch nothing") {
  auto events = parse_all_splits("retry: 3000\n\n: heartbeat\n\n:\nevent: x\n\ndata: y\n\n");
  REQUIRE(events.size() == 1);
  // The type of an event without data is discarded with it.
  CHECK(events[0] == Seen{"", "message", "y", 1});
  SseParser p;
  p.feed(": a\n:b\n\n", [](const SseEvent&) {});
  CHECK(p.comments() == 2);
}

TEST_CASE("the last event id persists across events") {
  auto events = parse_all_splits("id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\n");
  REQUIRE(events.size() == 3);
  CHECK(events[0].id == "1");
  CHECK(events[1].id == "1");
  CHECK(events[2].id == "");  // a bare "id" field resets it
}

TEST_CASE("a field without a space after the colon, and a line without a colon") {
  auto events = parse_all_splits("data:x\ndata\n\n");
  REQUIRE(events.size() == 1);
  CHECK(events[0].data == "x\n");
}

TEST_CASE("long data is counted in full but kept only up to kKeepBytes") {
  std::string pad(10000, 'x');
  std::string text = "data: t=123;" + pad + "\ndata: " + pad + "\n\n";
  auto whole = parse(text);
  REQUIRE(whole.size() == 1);
  CHECK(whole[0].data_bytes == 6 + pad.size() + 1 + pad.size());
  CHECK(whole[0].data.size() == SseParser::kKeepBytes);
  CHECK(whole[0].data.substr(0, 6) == "t=123;");
  for (size_t step : {size_t{1}, size_t{3}, size_t{7}, size_t{100}, size_t{4096}}) {
    INFO("step " << step);
    CHECK(parse(text, step) == whole);
  }
}

TEST_CASE("chunked responses decode to the same events however reads split them") {
  // The chunk boundaries deliberately cut through lines and the event terminator.
  std::string response = chunked({"retry: 3000\n\n", "id: 1\ndata: t=5;xx", "x\n", "\n",
                                  "id: 2\ndata: a\ndata: b\n\n: hb\n\n"});
  std::vector<Seen> expected{{"1", "message", "t=5;xxx", 7}, {"2", "message", "a\nb", 3}};
  for (size_t step = 1; step <= response.size(); ++step) {
    REQUIRE(through_http(response, step) == expected);
  }
}

TEST_CASE("the terminating chunk ends a chunked stream") {
  std::string response = chunked({"data: x\n\n"}) + "0\r\n\r\n";
  bool ended = false;
  auto events = through_http(response, 3, &ended);
  CHECK(ended);
  CHECK(events.size() == 1);
}

TEST_CASE("close-delimited responses (HTTP/1.0 style) stream until EOF") {
  std::string response =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\nid: 9\ndata: p\n\n";
  std::vector<Seen> expected{{"9", "message", "p", 1}};
  for (size_t step = 1; step <= response.size(); ++step) {
    bool ended = true;
    REQUIRE(through_http(response, step, &ended) == expected);
    CHECK_FALSE(ended);
  }
}
