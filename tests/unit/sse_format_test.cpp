#include "sidecar/sse/sse_format.hpp"

#include <catch2/catch.hpp>

#include "sidecar/sse/event.hpp"

using namespace sidecar;

namespace {
std::string encode(std::string_view data, std::string_view name = "",
                   std::optional<std::uint32_t> retry = {}) {
  std::string out;
  append_sse_event(out, "7-1", name, data, retry);
  return out;
}
}  // namespace

TEST_CASE("a single-line payload is one data field") {
  CHECK(encode("hello") == "id: 7-1\ndata: hello\n\n");
}

TEST_CASE("every line ending splits the payload into data lines") {
  CHECK(encode("a\nb") == "id: 7-1\ndata: a\ndata: b\n\n");
  CHECK(encode("a\r\nb") == "id: 7-1\ndata: a\ndata: b\n\n");
  CHECK(encode("a\rb") == "id: 7-1\ndata: a\ndata: b\n\n");
  CHECK(encode("a\r\rb") == "id: 7-1\ndata: a\ndata:\ndata: b\n\n");
  CHECK(encode("a\n\r\nb") == "id: 7-1\ndata: a\ndata:\ndata: b\n\n");
  // A trailing line ending survives: the browser rebuilds "a\n".
  CHECK(encode("a\n") == "id: 7-1\ndata: a\ndata:\n\n");
  CHECK(encode("a\r") == "id: 7-1\ndata: a\ndata:\n\n");
}

TEST_CASE("an empty payload still dispatches an event") {
  CHECK(encode("") == "id: 7-1\ndata:\n\n");
}

TEST_CASE("event name and retry are written when given") {
  CHECK(encode("x", "update", 2500) == "id: 7-1\nevent: update\nretry: 2500\ndata: x\n\n");
}

TEST_CASE("payload bytes cannot inject fields or end the event early") {
  // Each injected line is confined to a data line of its own.
  std::string frame = encode("x\n\nid: 999\nevent: evil\r\ndata: y");
  CHECK(frame == "id: 7-1\ndata: x\ndata:\ndata: id: 999\ndata: event: evil\ndata: data: y\n\n");
  CHECK(frame.find("\nid: 999") == std::string::npos);
  CHECK(frame.find("\n\n") == frame.size() - 2);
}

TEST_CASE("leading spaces and colons in payload lines are preserved") {
  // "data: " strips exactly one space, so " x" must be written as "data:  x".
  CHECK(encode(" x") == "id: 7-1\ndata:  x\n\n");
  CHECK(encode(":not a comment") == "id: 7-1\ndata: :not a comment\n\n");
}

TEST_CASE("UTF-8 and NUL bytes pass through untouched") {
  std::string data = "h\xC3\xA9llo \xE2\x9C\x93 \xE4\xBD\xA0";
  CHECK(encode(data) == "id: 7-1\ndata: " + data + "\n\n");
  std::string with_nul("a\0b", 3);
  CHECK(encode(with_nul) == "id: 7-1\ndata: " + with_nul + "\n\n");
}

TEST_CASE("field values with CR, LF or NUL are unsafe") {
  CHECK(is_safe_field_value("message"));
  CHECK_FALSE(is_safe_field_value("a\nb"));
  CHECK_FALSE(is_safe_field_value("a\rb"));
  CHECK_FALSE(is_safe_field_value(std::string_view("a\0b", 3)));
}

TEST_CASE("chunks carry their size in hex") {
  std::string out;
  append_chunk(out, std::string(26, 'x'));
  CHECK(out == "1a\r\n" + std::string(26, 'x') + "\r\n");
}

TEST_CASE("an event is encoded once with both framings in one buffer") {
  EventDraft draft{{"t"}, "", "hi", std::nullopt};
  auto event = Event::create(EventId{5, 9}, draft, Event::Clock::now());
  CHECK(event->plain() == "id: 5-9\ndata: hi\n\n");
  CHECK(event->chunked() == "12\r\nid: 5-9\ndata: hi\n\n\r\n");
  CHECK(event->size() == event->plain().size());
  // plain() is a view into chunked(): no second copy.
  CHECK(event->plain().data() == event->chunked().data() + 4);
}
