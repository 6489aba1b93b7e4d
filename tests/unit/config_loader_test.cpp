#include "sidecar/config/config_loader.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

using namespace sidecar;

namespace {

ConfigLoad load(const std::string& yaml) {
  return load_config_text(yaml, "test.yaml");
}

// The single problem a load reported, as "FILE:LINE:COL: message".
std::string only_problem(const ConfigLoad& result) {
  REQUIRE_FALSE(result.config);
  REQUIRE(result.problems.size() == 1);
  return result.problems[0].to_string();
}

}  // namespace

TEST_CASE("an empty file is all defaults") {
  auto result = load("");
  REQUIRE(result.config);
  CHECK(result.config->listen.sse == "127.0.0.1:7700");
  CHECK(result.config->history.max_events == 1000);
  CHECK(result.config->access.public_topics.empty());
}

TEST_CASE("the example config is valid and says what the docs say") {
  auto result = load_config_file(SIDECAR_SOURCE_DIR "/config.example.yaml");
  for (const auto& p : result.problems) INFO(p.to_string());
  REQUIRE(result.config);
  const Config& c = *result.config;
  CHECK(c.listen.sse == "127.0.0.1:7700");
  CHECK(c.listen.admin == "127.0.0.1:7701");
  CHECK(c.publish.socket == "/run/sse-sidecar/publish.sock");
  CHECK(c.publish.socket_mode == 0660);
  CHECK(c.access.public_topics == std::vector<std::string>{"public.*"});
  CHECK(c.limits.max_event_bytes == 64 * 1024);
  CHECK(c.stream.heartbeat_interval == std::chrono::seconds(15));
}

TEST_CASE("values are converted to their types") {
  auto result = load(
      "workers: 3\n"
      "publish:\n  socket_mode: \"0600\"\n  tokens: [\"0123456789abcdef\"]\n"
      "limits:\n  max_event_bytes: 2KiB\n  request_timeout: 250ms\n"
      "stream:\n  allow_patterns: false\n"
      "access:\n  public_topics: [\"news.*\", \"status\"]\n");
  REQUIRE(result.config);
  CHECK(result.config->workers == 3);
  CHECK(result.config->publish.socket_mode == 0600);
  CHECK(result.config->limits.max_event_bytes == 2048);
  CHECK(result.config->limits.request_timeout == std::chrono::milliseconds(250));
  CHECK_FALSE(result.config->stream.allow_patterns);
  CHECK(result.config->access.public_topics.size() == 2);
}

TEST_CASE("unknown keys are reported with their line and column") {
  CHECK(only_problem(load("listen:\n  sse: \"127.0.0.1:1\"\n  ssl: true\n")) ==
        "test.yaml:3:3: unknown key 'listen.ssl' (expected one of: sse, admin, backlog)");
  CHECK_THAT(only_problem(load("histroy:\n  max_events: 1\n")),
             Catch::StartsWith("test.yaml:1:1: unknown key 'histroy'"));
}

TEST_CASE("wrong types are reported") {
  CHECK(only_problem(load("workers: many\n")) ==
        "test.yaml:1:10: 'workers' must be a whole number (got 'many')");
  CHECK(only_problem(load("limits: 5\n")) ==
        "test.yaml:1:9: 'limits' must be a mapping of keys to values");
  CHECK(only_problem(load("access:\n  public_topics: public.*\n")) ==
        "test.yaml:2:18: 'access.public_topics' must be a list");
  CHECK(only_problem(load("stream:\n  allow_patterns: yes please\n")) ==
        "test.yaml:2:19: 'stream.allow_patterns' must be true or false (got 'yes please')");
  CHECK_THAT(only_problem(load("history:\n  max_age: 10\n")),
             Catch::StartsWith("test.yaml:2:12: 'history.max_age' must be a duration"));
  CHECK_THAT(only_problem(load("limits:\n  max_event_bytes: 1MB\n")),
             Catch::StartsWith("test.yaml:2:20: 'limits.max_event_bytes' must be a size"));
}

TEST_CASE("out-of-range values are reported") {
  CHECK_THAT(only_problem(load("limits:\n  max_connections: 0\n")),
             Catch::StartsWith("test.yaml:2:20: 'limits.max_connections' must be between 1"));
  CHECK_THAT(
      only_problem(load("stream:\n  heartbeat_interval: 10ms\n")),
      Catch::StartsWith("test.yaml:2:23: 'stream.heartbeat_interval' must be between 100ms"));
}

TEST_CASE("invalid domain values are reported") {
  CHECK_THAT(only_problem(load("listen:\n  sse: \"localhost\"\n")),
             Catch::Contains("is not an address"));
  CHECK_THAT(only_problem(load("access:\n  public_topics: [\"a.*.b\"]\n")),
             Catch::StartsWith("test.yaml:2:19: 'access.public_topics':"));
  CHECK_THAT(only_problem(load("cors:\n  allow_origins: [\"example.com\"]\n")),
             Catch::Contains("is not an origin"));
  CHECK_THAT(only_problem(load("publish:\n  tokens: [\"short\"]\n")),
             Catch::Contains("at least 16 characters"));
  CHECK_THAT(only_problem(load("publish:\n  socket_mode: \"0999\"\n")),
             Catch::Contains("octal file mode"));
  CHECK_THAT(only_problem(load("log:\n  level: loud\n")), Catch::Contains("must be one of"));
}

TEST_CASE("every problem is reported in one pass") {
  auto result = load("workers: x\nbogus: 1\nlimits:\n  max_connections: -1\n  nope: 2\n");
  REQUIRE_FALSE(result.config);
  REQUIRE(result.problems.size() == 4);
  CHECK(result.problems[0].line == 1);
  CHECK(result.problems[1].line == 2);
  CHECK(result.problems[2].line == 4);
  CHECK(result.problems[3].line == 5);
}

TEST_CASE("YAML syntax errors carry their position") {
  auto result = load("listen:\n  sse: [\n");
  REQUIRE_FALSE(result.config);
  REQUIRE(result.problems.size() == 1);
  CHECK(result.problems[0].line >= 2);
}

TEST_CASE("a missing file is reported without a position") {
  auto result = load_config_file("/nonexistent/sse-sidecar.yaml");
  REQUIRE_FALSE(result.config);
  CHECK_THAT(result.problems.at(0).to_string(),
             Catch::StartsWith("/nonexistent/sse-sidecar.yaml: cannot read file"));
}
