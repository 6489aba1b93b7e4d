#include "sidecar/app/publish_options.hpp"

#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <string>
#include <vector>

using namespace sidecar;

namespace {

constexpr std::string_view kDefault = "/etc/sse-sidecar/config.yaml";

PublishArgs parse(const std::vector<std::string_view>& args) {
  return parse_publish_args(args, kDefault);
}

PublishOptions ok(const std::vector<std::string_view>& args) {
  PublishArgs a = parse(args);
  INFO(a.error);
  REQUIRE(a.options);
  return *a.options;
}

std::string error(const std::vector<std::string_view>& args) {
  PublishArgs a = parse(args);
  REQUIRE_FALSE(a.options);
  REQUIRE_FALSE(a.error.empty());
  return a.error;
}

std::string line(const std::vector<std::string_view>& args) {
  PublishOptions o = ok(args);
  std::string e;
  auto text = event_line(o, o.data, e);
  INFO(e);
  REQUIRE(text);
  return *text;
}

}  // namespace

TEST_CASE("publish: no TOPIC reads standard input, with the default config") {
  PublishOptions o = ok({});
  CHECK(o.topics.empty());
  CHECK(o.config_path == kDefault);
  CHECK(o.socket.empty());
  CHECK_FALSE(o.quiet);
  o = ok({"--socket", "/tmp/s.sock", "-q"});
  CHECK(o.socket == "/tmp/s.sock");
  CHECK(o.quiet);
  o = ok({"--config=/tmp/c.yaml"});
  CHECK(o.config_path == "/tmp/c.yaml");
  CHECK(ok({"-c", "/x.yaml"}).config_path == "/x.yaml");
  CHECK(ok({"-s", "/x.sock"}).socket == "/x.sock");
}

TEST_CASE("publish: the TOPIC form takes its options in any order") {
  PublishOptions o = ok({"--event", "update", "chat.room1", "--topic", "admins", "--data=hi",
                         "--retry", "5000", "--idempotency-key", "k-1"});
  CHECK(o.topics == std::vector<std::string>{"chat.room1", "admins"});
  CHECK(o.event == "update");
  CHECK(o.data_kind == PublishOptions::Data::kText);
  CHECK(o.data == "hi");
  CHECK(o.retry == 5000U);
  CHECK(o.idempotency_key == "k-1");
  // --topic alone is the TOPIC form too; a value may start with a dash.
  o = ok({"--topic", "a", "--data", "-5"});
  CHECK(o.topics == std::vector<std::string>{"a"});
  CHECK(o.data == "-5");
  CHECK(ok({"t", "--data-file", "-"}).data_kind == PublishOptions::Data::kFile);
  CHECK(ok({"--", "-odd"}).topics == std::vector<std::string>{"-odd"});
}

TEST_CASE("publish: --help wins over other mistakes") {
  CHECK(ok({"t", "extra", "--data", "x", "--help"}).help);
  CHECK(ok({"-h"}).help);
}

TEST_CASE("publish: usage errors say what to fix") {
  CHECK(error({"--frobnicate"}) == "unknown option '--frobnicate'");
  CHECK(error({"t", "--data"}) == "--data needs a value");
  CHECK(error({"t", "--data", "a", "--json", "1"}).find("exclusive") != std::string::npos);
  CHECK(error({"t", "--event", "a", "--event", "b"}) == "--event is given twice");
  CHECK(error({"--socket", "a", "-s", "b"}) == "--socket is given twice");
  CHECK(error({"t", "--retry", "soon"}) == "--retry takes a number of milliseconds, not 'soon'");
  CHECK(error({"t", "--retry", "-1"}).starts_with("--retry takes"));
  CHECK(error({"t", "hello"}).starts_with("unexpected argument 'hello'"));
  CHECK(error({"--data", "x"}).starts_with("--data needs a TOPIC"));
  CHECK(error({"--event", "x"}).starts_with("--event needs a TOPIC"));
  CHECK(error({"--socket", ""}).starts_with("--socket needs"));
  CHECK(error({"--quiet=yes"}) == "--quiet takes no value");
  CHECK(error({"t", "--data-file", ""}).starts_with("--data-file needs"));
}

TEST_CASE("publish: the event line is JSON written with quoting right") {
  CHECK(line({"chat.room1", "--data", "hi"}) == R"({"topic":"chat.room1","data":"hi"})");
  CHECK(line({"a", "--topic", "b"}) == R"({"topics":["a","b"]})");
  CHECK(line({"a", "--event", "up", "--retry", "0", "--idempotency-key", "k"}) ==
        R"({"topic":"a","event":"up","retry":0,"idempotency_key":"k"})");
  std::string tricky = line({"a", "--data", "say \"hi\"\n\\ \x01 é"});
  rapidjson::Document doc;
  doc.Parse(tricky.c_str());
  REQUIRE_FALSE(doc.HasParseError());
  CHECK(std::string(doc["data"].GetString()) == "say \"hi\"\n\\ \x01 é");
}

TEST_CASE("publish: --json takes one JSON value, checked and written compact") {
  CHECK(line({"a", "--json", R"( { "n" : [1, 2.5, null] } )"}) ==
        R"({"topic":"a","data":{"n":[1,2.5,null]}})");
  CHECK(line({"a", "--json", R"("text")"}) == R"({"topic":"a","data":"text"})");
  for (std::string_view bad : {"", "{", "1 2", "hello", "\xff"}) {
    PublishOptions o = ok({"a", "--json", bad});
    std::string e;
    CHECK_FALSE(event_line(o, o.data, e));
    CHECK(e.starts_with("--json: not a JSON value: "));
  }
}
