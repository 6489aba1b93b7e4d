#include "sidecar/ingest/publish_message.hpp"

#include <catch2/catch.hpp>

using namespace sidecar;
using namespace std::string_literals;

namespace {
PublishMessage parse(std::string_view line, std::size_t max = 1024) {
  return parse_publish_line(line, max);
}
}  // namespace

TEST_CASE("a minimal message") {
  auto m = parse(R"({"topic":"chat.room1","data":"hello"})");
  REQUIRE(m.ok);
  CHECK(m.draft.topics == std::vector<std::string>{"chat.room1"});
  CHECK(m.draft.data == "hello");
  CHECK(m.draft.name.empty());
  CHECK_FALSE(m.draft.retry);
}

TEST_CASE("every field") {
  auto m = parse(
      R"({"topics":["a","b","a"],"topic":"c","event":"update","data":"x","retry":500,"ref":{"k":[1]}})");
  REQUIRE(m.ok);
  CHECK(m.draft.topics == std::vector<std::string>{"a", "b", "c"});
  CHECK(m.draft.name == "update");
  CHECK(m.draft.retry == 500u);
  CHECK(m.ref == R"({"k":[1]})");
}

TEST_CASE("non-string data is sent as its JSON text") {
  CHECK(parse(R"({"topic":"a","data":{"price":1.5,"s":"x"}})").draft.data ==
        R"({"price":1.5,"s":"x"})");
  CHECK(parse(R"({"topic":"a","data":[1,2]})").draft.data == "[1,2]");
  CHECK(parse(R"({"topic":"a","data":null})").draft.data == "null");
  CHECK(parse(R"({"topic":"a"})").draft.data.empty());
}

TEST_CASE("string data keeps its escapes decoded exactly") {
  auto m = parse(R"({"topic":"a","data":"l1\nl2\r\n\u00e9\u0000"})");
  REQUIRE(m.ok);
  CHECK(m.draft.data == "l1\nl2\r\n\xC3\xA9\0"s);
}

TEST_CASE("malformed input is refused with a reason and the ref when readable") {
  auto m = parse("not json");
  CHECK_FALSE(m.ok);
  CHECK(m.kind == IngestError::kMalformed);
  CHECK_THAT(m.error, Catch::StartsWith("invalid JSON"));
  CHECK(parse("[1,2]").error == "a message must be a JSON object");
  CHECK(parse(R"({"topic":"a"} trailing)").kind == IngestError::kMalformed);
  CHECK(parse("{\"topic\":\"a\",\"data\":\"\xff\"}").kind == IngestError::kMalformed);  // not UTF-8
  auto bad = parse(R"({"ref":"r1","topic":"a b"})");
  CHECK(bad.kind == IngestError::kInvalid);
  CHECK(bad.ref == "\"r1\"");
}

TEST_CASE("validation of topics, names and fields") {
  CHECK(parse(R"({"data":"x"})").error == "a message needs 'topic' or 'topics'");
  CHECK(parse(R"({"topic":5})").kind == IngestError::kMalformed);
  CHECK(parse(R"({"topic":"a.*"})").kind == IngestError::kInvalid);
  CHECK(parse(R"({"topics":["a",1]})").kind == IngestError::kMalformed);
  CHECK(parse(R"({"topic":"a","event":"x\ny"})").error ==
        "event name must not contain CR, LF or NUL");
  CHECK(parse(R"({"topic":"a","event":"x\ry"})").kind == IngestError::kInvalid);
  CHECK(parse(R"({"topic":"a","event":"x\u0000y"})").kind == IngestError::kInvalid);
  CHECK(parse(R"({"topic":"a","event":"sidecar.missed"})").kind == IngestError::kInvalid);
  CHECK(parse(R"({"topic":"a","retry":-1})").kind == IngestError::kInvalid);
  CHECK(parse(R"({"topic":"a","id":"1"})").kind == IngestError::kInvalid);
  CHECK(parse(R"({"topic":"a","dat":"typo"})").error == "unknown field 'dat'");
}

TEST_CASE("the size limit covers payload and name") {
  std::string body(1000, 'x');
  CHECK(parse(R"({"topic":"a","data":")" + body + "\"}", 1000).ok);
  auto m = parse(R"({"topic":"a","event":"e","data":")" + body + "\"}", 1000);
  CHECK(m.kind == IngestError::kTooLarge);
}

TEST_CASE("raw publishes validate topic and name") {
  CHECK(make_raw_publish("a.b", "", "body", 100).ok);
  CHECK(make_raw_publish("a b", "", "body", 100).kind == IngestError::kInvalid);
  CHECK(make_raw_publish("a", "x\n", "body", 100).kind == IngestError::kInvalid);
  CHECK(make_raw_publish("a", "", std::string(101, 'x'), 100).kind == IngestError::kTooLarge);
}

TEST_CASE("replies are one JSON object with the ref echoed") {
  CHECK(publish_ok_reply("1-2", 3, "") == R"({"ok":true,"id":"1-2","subscribers":3})");
  CHECK(publish_ok_reply("1-2", 0, "[1]") == R"({"ok":true,"id":"1-2","subscribers":0,"ref":[1]})");
  CHECK(publish_error_reply("bad \"x\"\n", "7") == R"({"ok":false,"error":"bad \"x\"\n","ref":7})");
}

TEST_CASE("an idempotency key is taken when it is 1 to 200 printable characters") {
  auto m = parse(R"({"topic":"a","data":"x","idempotency_key":"order-42/try"})");
  REQUIRE(m.ok);
  CHECK(m.draft.idempotency_key == "order-42/try");
  CHECK(parse(R"({"topic":"a"})").draft.idempotency_key.empty());
  for (const char* bad :
       {R"({"topic":"a","idempotency_key":""})", R"({"topic":"a","idempotency_key":"has space"})",
        R"({"topic":"a","idempotency_key":7})", R"({"topic":"a","idempotency_key":"a\nb"})"}) {
    INFO(bad);
    auto refused = parse(bad);
    CHECK_FALSE(refused.ok);
    CHECK(refused.error.find("idempotency_key") != std::string::npos);
  }
  std::string longest(200, 'k');
  CHECK(parse(R"({"topic":"a","idempotency_key":")" + longest + R"("})", 4096).ok);
  CHECK_FALSE(parse(R"({"topic":"a","idempotency_key":")" + longest + R"(k"})", 4096).ok);
}

TEST_CASE("a duplicate's reply says so") {
  CHECK(publish_ok_reply("1-2", 3, "", true) ==
        R"({"ok":true,"id":"1-2","subscribers":3,"duplicate":true})");
  CHECK(publish_ok_reply("1-2", 3, "") == R"({"ok":true,"id":"1-2","subscribers":3})");
}

TEST_CASE("a control line alone on its line chooses the replies, and makes no event") {
  for (auto [line, mode] : {std::pair{R"({"replies":"all"})", ReplyMode::kAll},
                            std::pair{R"({"replies":"errors"})", ReplyMode::kErrors},
                            std::pair{R"( { "replies" : "none" } )", ReplyMode::kNone}}) {
    INFO(line);
    auto m = parse(line);
    REQUIRE(m.ok);
    REQUIRE(m.replies);
    CHECK(*m.replies == mode);
    CHECK(m.draft.topics.empty());
  }
  // A message is never taken for one.
  auto message = parse(R"({"topic":"a","data":"x"})");
  REQUIRE(message.ok);
  CHECK_FALSE(message.replies);
  CHECK(publish_control_reply(ReplyMode::kAll) == R"({"ok":true,"replies":"all"})");
}

TEST_CASE("a control line with another value, or beside other fields, is refused") {
  for (const char* bad : {R"({"replies":"some"})", R"({"replies":""})", R"({"replies":1})",
                          R"({"replies":["none"]})", R"({"replies":"NONE"})"}) {
    INFO(bad);
    auto m = parse(bad);
    CHECK_FALSE(m.ok);
    CHECK_FALSE(m.replies);
    CHECK(m.kind == IngestError::kInvalid);
    CHECK(m.error.find(R"("all", "errors" or "none")") != std::string::npos);
  }
  for (const char* mixed : {R"({"replies":"none","topic":"a"})", R"({"replies":"none","ref":1})"}) {
    INFO(mixed);
    auto m = parse(mixed);
    CHECK_FALSE(m.ok);
    CHECK_FALSE(m.replies);
    CHECK(m.error.find("alone on its line") != std::string::npos);
  }
  // Over HTTP there are no control lines: the same object is an ordinary refused message.
  rapidjson::Document doc;
  doc.Parse(R"({"replies":"none"})");
  auto http = parse_publish_value(doc, 1024);
  CHECK_FALSE(http.ok);
  CHECK_FALSE(http.replies);
}
