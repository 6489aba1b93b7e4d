#include "sidecar/config/config_loader.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

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
        "test.yaml:3:3: unknown key 'listen.ssl' (expected one of: sse, admin, sse_tls, backlog)");
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

TEST_CASE("a directory given as the config file is refused, not read as empty") {
  auto result = load_config_file(SIDECAR_SOURCE_DIR);
  REQUIRE_FALSE(result.config);
  CHECK(result.problems.at(0).to_string() ==
        std::string(SIDECAR_SOURCE_DIR) + ": cannot read file: Is a directory");
}

TEST_CASE("an unclosed '[' or '{' is reported where it opened") {
  CHECK(only_problem(load("access:\n"
                          "  public_topics: [\"public.*\",\n"
                          "    \"news.*\"\n"
                          "cors:\n"
                          "  allow_origins: [\"https://a.example\"]\n")) ==
        "test.yaml:2:18: this '[' is never closed (expected ']' before line 4, column 1)");
  CHECK(only_problem(
            load("listen: {sse: \"127.0.0.1:1\",\n  admin: \"127.0.0.1:2\"\nworkers: 1\n")) ==
        "test.yaml:1:9: this '{' is never closed (expected '}' before line 3, column 1)");
  // The inner list is closed: the outer one is the mistake.
  CHECK_THAT(only_problem(load("access:\n  public_topics: [a, [b, c],\n    d\nlog: {}\n")),
             Catch::StartsWith("test.yaml:2:18: this '[' is never closed"));
}

TEST_CASE("a quoted value whose closing quote is missing is reported where it starts") {
  // yaml-cpp takes such a value as running to the end of the file; the keys after it would
  // vanish into it without a word.
  const std::string message =
      "the quoted value starting here is never closed (it runs to the end of the file)";
  CHECK(only_problem(load("access:\n  cookie: \"sid\nworkers: 2\n")) ==
        "test.yaml:2:11: " + message);
  CHECK(only_problem(load("access:\n  cookie: 'sid\nworkers: 2\n")) ==
        "test.yaml:2:11: " + message);
  CHECK(only_problem(load("access:\n  cookie: \"sid\\\"\n")) == "test.yaml:2:11: " + message);
  // When a later quote closes it, the parser fails after it; the problem is still the quote.
  CHECK(only_problem(load("access:\n  cookie: \"sid\n  public_topics: [\"public.*\"]\n")) ==
        "test.yaml:2:11: this quoted value goes on to line 3 and the file does not parse after it "
        "(end of map not found at line 3, column 20): is its closing quote missing?");
  // Escaped and doubled quotes inside closed values are no such problem.
  auto fine = load("access:\n  cookie: \"a\\\"b\"\n  jwt:\n    issuer: 'it''s'\n");
  REQUIRE(fine.config);
  CHECK(fine.config->access.cookie == "a\"b");
  CHECK(fine.config->access.jwt.issuer == "it's");
}

TEST_CASE("text the YAML parser would silently leave unread is reported") {
  // yaml-cpp reads the first document only: a second one would be ignored.
  CHECK(only_problem(load("workers: 1\n---\nlog:\n  level: debug\n")) ==
        "test.yaml:2:1: a second YAML document starts here; the configuration is one document");
  // A stray ',' ends the document for yaml-cpp: the whole file was taken as empty, and asking
  // it for the next document found an empty one at the same place, forever (found by fuzzing).
  CHECK(only_problem(load("# comment\n, x\nworkers: 1\n")) ==
        "test.yaml:2:1: unexpected ',': YAML reads nothing from here on");
  // Markers of one document are fine.
  CHECK(load("---\nworkers: 1\n...\n").config);
}

TEST_CASE("a key given twice is reported at the second") {
  CHECK(only_problem(load("workers: 1\nlog:\n  level: info\nworkers: 2\n")) ==
        "test.yaml:4:1: 'workers' is set twice (first on line 1)");
  CHECK(only_problem(load("log:\n  level: info\n  level: debug\n")) ==
        "test.yaml:3:3: 'log.level' is set twice (first on line 2)");
  // What the second one holds is checked too.
  auto result = load("history:\n  max_events: 5\nhistory:\n  max_evnts: 5\n");
  REQUIRE(result.problems.size() == 2);
  CHECK(result.problems[0].to_string() ==
        "test.yaml:3:1: 'history' is set twice (first on line 1)");
  CHECK_THAT(result.problems[1].to_string(),
             Catch::StartsWith("test.yaml:4:3: unknown key 'history.max_evnts'"));
}

TEST_CASE("a key that is not a name is reported, not a conversion error") {
  CHECK(only_problem(load("? [a]\n: 1\n")) ==
        "test.yaml:1:3: a key must be a name, not a list or a mapping");
}

TEST_CASE("one mistake makes one problem") {
  const std::string jwt_key = "access:\n  jwt:\n    keys:\n      - algorithm: ";
  // Each: a file with one mistake, and the only problem it may report.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {jwt_key + "HS256\n        file: /nonexistent/k.key\n",
       "test.yaml:5:15: 'access.jwt.keys[0].file': cannot read /nonexistent/k.key: No such file "
       "or directory"},
      {jwt_key + "HS999\n        file: " SIDECAR_SOURCE_DIR "/config.example.yaml\n",
       "test.yaml:4:20: 'access.jwt.keys[0].algorithm' must be one of: HS256, HS384, HS512, "
       "RS256, ES256 (got 'HS999')"},
      {jwt_key + "HS256\n        file: \"\"\n",
       "test.yaml:5:15: 'access.jwt.keys[0].file' must name a file"},
      {"access:\n  jwt:\n    keys: [x]\n",
       "test.yaml:3:12: 'access.jwt.keys[0]' must be a mapping of keys to values"},
      {"publish:\n  socket_mode: [1]\n", "test.yaml:2:16: 'publish.socket_mode' must be a string"},
      {"publish:\n  tokens:\n    - token: [1]\n",
       "test.yaml:3:14: 'publish.tokens[0].token' must be a string"},
      {"publish:\n  tokens:\n    - token:\n",
       "test.yaml:3:7: 'publish.tokens[0].token' has no value"},
      {"publish:\n  tokens: [[1]]\n",
       "test.yaml:2:12: 'publish.tokens[0]' must be a mapping of keys to values"},
      {"access:\n  tokens:\n    - token: short\n      subject: a\n      topics: [a]\n",
       "test.yaml:3:14: 'access.tokens[0].token': tokens must be at least 16 characters (or "
       "\"sha256:<hex>\")"},
      {"access:\n  tokens:\n    - token: 0123456789abcdef\n      subject: a\n      topics: "
       "[\"a.*.b\"]\n",
       "test.yaml:5:16: 'access.tokens[0].topics': 'a.*.b': topic may contain only letters, "
       "digits, '.', '_', '-', ':', '@' and '='"},
      {"access:\n  public_topics: [[a]]\n",
       "test.yaml:2:19: 'access.public_topics[0]' must be a string"},
      {"presence:\n  rules:\n    - topics: [\"a.*.b\"]\n      event_topic: \"p.{topic}\"\n",
       "test.yaml:3:16: 'presence.rules[0].topics': 'a.*.b': topic may contain only letters, "
       "digits, '.', '_', '-', ':', '@' and '='"},
      {"presence:\n  rules:\n    - topics: [a]\n      event_topic: [x]\n",
       "test.yaml:4:20: 'presence.rules[0].event_topic' must be a string"},
      {"presence:\n  rules:\n    - topics: [a]\n      webhook: maybe\n",
       "test.yaml:4:16: 'presence.rules[0].webhook' must be true or false (got 'maybe')"},
      {"presence:\n  rules:\n    - topics: [a]\n      webhook: true\n  webhook:\n    url: [x]\n",
       "test.yaml:6:10: 'presence.webhook.url' must be a string"},
      {"publish:\n  hmac_secret_file: " SIDECAR_SOURCE_DIR "\n",
       "test.yaml:2:21: 'publish.hmac_secret_file': cannot read " SIDECAR_SOURCE_DIR
       ": Is a directory"},
  };
  for (const auto& [yaml, problem] : cases) {
    INFO(yaml);
    CHECK(only_problem(load(yaml)) == problem);
  }
}

TEST_CASE("keys an item needs are named when they are missing, not when they are wrong") {
  CHECK(only_problem(load("access:\n  tokens:\n    - token: 0123456789abcdef\n")) ==
        "test.yaml:3:7: 'access.tokens[0]' needs subject and topics");
  CHECK(only_problem(load("access:\n  tokens:\n    - subject: a\n")) ==
        "test.yaml:3:7: 'access.tokens[0]' needs token and topics");
  CHECK(only_problem(load("publish:\n  tokens:\n    - name: x\n")) ==
        "test.yaml:3:7: 'publish.tokens[0]' needs token");
  CHECK(only_problem(load("access:\n  jwt:\n    keys:\n      - kid: a\n")) ==
        "test.yaml:4:9: 'access.jwt.keys[0]' needs algorithm and file");
  CHECK(only_problem(load("presence:\n  rules:\n    - topics: []\n      event_topic: p\n")) ==
        "test.yaml:3:7: 'presence.rules[0]' needs topics");
}

TEST_CASE("a JWT key remembers where the config names its file") {
  auto result = load("access:\n  jwt:\n    keys:\n      - algorithm: HS256\n        file: " +
                     std::string(SIDECAR_SOURCE_DIR) + "/config.example.yaml\n");
  REQUIRE(result.config);
  REQUIRE(result.config->access.jwt.keys.size() == 1);
  CHECK(result.config->access.jwt.keys[0].file_line == 5);
  CHECK(result.config->access.jwt.keys[0].file_column == 15);
}
