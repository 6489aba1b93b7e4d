// The option table against everything that restates it: the Config struct's initialisers,
// config.example.yaml (keys, defaults, "(restart)" marks), the loader's range checks and the
// reload's handling of restart-only keys.
#include "sidecar/config/config_schema.hpp"

#include <yaml-cpp/yaml.h>

#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "sidecar/config/config_loader.hpp"

using namespace sidecar;

namespace {

constexpr const char* kExample = SIDECAR_SOURCE_DIR "/config.example.yaml";

// `value` under the dotted `key`, as nested YAML mappings.
std::string yaml_for(std::string_view key, const std::string& value) {
  std::string text;
  std::string indent;
  for (;;) {
    auto dot = key.find('.');
    text += indent + std::string(key.substr(0, dot)) + ":";
    if (dot == std::string_view::npos) break;
    text += "\n";
    indent += "  ";
    key.remove_prefix(dot + 1);
  }
  return text + " " + value + "\n";
}

ConfigLoad load(const std::string& yaml) {
  return load_config_text(yaml, "test.yaml");
}

Config load_ok(const std::string& yaml) {
  auto result = load(yaml);
  std::string problems;
  for (const auto& p : result.problems) problems += p.to_string() + "\n";
  INFO(yaml << problems);
  REQUIRE(result.config);
  return *result.config;
}

// A key of config.example.yaml and the comment lines just above it.
struct ExampleKey {
  std::string key;
  std::string comment;
};

std::vector<ExampleKey> example_keys() {
  std::ifstream in(kExample);
  std::stringstream text;
  text << in.rdbuf();
  std::vector<std::string> lines;
  for (std::string line; std::getline(text, line);) lines.push_back(line);

  auto comment_above = [&lines](std::size_t line) {
    std::string comment;
    while (line > 0) {
      const std::string& above = lines[--line];
      auto start = above.find_first_not_of(' ');
      if (start == std::string::npos || above[start] != '#') break;
      comment.insert(0, above.substr(start) + "\n");
    }
    return comment;
  };

  std::vector<ExampleKey> keys;
  // Mappings are sections; anything else (scalars, lists) is the value of a key.
  auto walk = [&](auto& self, const YAML::Node& node, const std::string& path) -> void {
    for (const auto& entry : node) {
      std::string key = path + entry.first.as<std::string>();
      if (entry.second.IsMap()) {
        self(self, entry.second, key + ".");
      } else {
        keys.push_back({key, comment_above(static_cast<std::size_t>(entry.first.Mark().line))});
      }
    }
  };
  walk(walk, YAML::LoadFile(kExample), "");
  return keys;
}

// The YAML word after "Default: " in a key's comment, where the example shows another value.
std::optional<std::string> documented_default(const std::string& comment) {
  auto at = comment.find("Default: ");
  if (at == std::string::npos) return std::nullopt;
  auto word = comment.substr(at + 9, comment.find_first_of(" \n", at + 9) - (at + 9));
  while (!word.empty() && (word.back() == '.' || word.back() == ',')) word.pop_back();
  return word;
}

// A bound as the option's YAML value.
std::string bound_text(const ConfigOption& o, std::int64_t v) {
  return std::to_string(v) + (o.type == ConfigType::kDuration ? "ms" : "");
}

}  // namespace

TEST_CASE("every key has exactly one row, and config.example.yaml shows every row") {
  std::set<std::string> rows;
  for (const auto& o : config_options()) {
    INFO(o.key);
    CHECK(rows.insert(std::string(o.key)).second);
    CHECK(find_config_option(o.key) == &o);
    CHECK(o.set_default);
    CHECK(o.read);
  }
  std::set<std::string> shown;
  for (const auto& k : example_keys()) {
    INFO(k.key);
    CHECK(shown.insert(k.key).second);
    CHECK(rows.count(k.key) == 1);  // a key shown but unknown would also fail to load
  }
  for (const auto& key : rows) {
    INFO(key);
    CHECK(shown.count(key) == 1);
  }
  CHECK(find_config_option("limits") == nullptr);
  CHECK(find_config_option("limits.nope") == nullptr);
}

TEST_CASE("the Config struct's initialisers are the rows' defaults") {
  const Config initialised;
  Config from_table;
  apply_config_defaults(from_table);
  for (const auto& o : config_options()) {
    INFO(o.key);
    CHECK(o.same(from_table, initialised));
  }
}

TEST_CASE("config.example.yaml shows each key's default, or names it") {
  const Config defaults = load_ok("");
  auto example = load_config_file(kExample);
  REQUIRE(example.problems.empty());
  std::map<std::string, std::string> comments;
  for (const auto& k : example_keys()) comments[k.key] = k.comment;

  for (const auto& o : config_options()) {
    INFO(o.key);
    // A value other than the default is shown only with "Default: X" in its comment (which
    // may also accompany the default, as an example of the key's syntax follows it).
    if (auto documented = documented_default(comments[std::string(o.key)])) {
      INFO("documented default: " << *documented);
      CHECK(o.same(load_ok(yaml_for(o.key, *documented)), defaults));
    } else {
      CHECK(o.same(*example.config, defaults));
    }
  }
}

TEST_CASE("the keys config.example.yaml marks (restart) are the restart-only rows") {
  for (const auto& k : example_keys()) {
    INFO(k.key);
    const auto* o = find_config_option(k.key);
    REQUIRE(o);
    CHECK((k.comment.find("(restart)") != std::string::npos) ==
          (o->mutability == Mutability::kRestart));
  }
}

TEST_CASE("bounded rows take their bounds and refuse a value just past either") {
  int bounded = 0;
  for (const auto& o : config_options()) {
    if (!o.bounds) continue;
    ++bounded;
    INFO(o.key);
    auto min = static_cast<std::int64_t>(o.bounds->min);
    auto max = static_cast<std::int64_t>(o.bounds->max);
    std::vector<std::int64_t> inside{min, min + 1, max - 1, max};
    std::vector<std::int64_t> outside{max + 1};
    // Below 0 only a decimal parses (as a number out of range); a count, size or duration
    // with a sign is not one at all.
    if (min > 0 || o.type == ConfigType::kDecimal) outside.push_back(min - 1);

    for (auto v : inside) {
      INFO(bound_text(o, v));
      CHECK(load(yaml_for(o.key, bound_text(o, v))).config);
    }
    auto depth = std::count(o.key.begin(), o.key.end(), '.');
    std::string where = "test.yaml:" + std::to_string(depth + 1) + ":";
    for (auto v : outside) {
      INFO(bound_text(o, v));
      auto result = load(yaml_for(o.key, bound_text(o, v)));
      REQUIRE(result.problems.size() == 1);
      CHECK_FALSE(result.config);
      CHECK_THAT(result.problems[0].to_string(),
                 Catch::StartsWith(where) &&
                     Catch::Contains("'" + std::string(o.key) + "' must be ") &&
                     Catch::Contains(" between "));
    }
  }
  CHECK(bounded > 30);
}

TEST_CASE("choice rows accept each choice, their default among them") {
  const Config defaults = load_ok("");
  for (const auto& o : config_options()) {
    if (o.type != ConfigType::kChoice) continue;
    INFO(o.key);
    REQUIRE_FALSE(o.choices.empty());
    int defaults_found = 0;
    for (auto choice : o.choices) {
      defaults_found += o.same(load_ok(yaml_for(o.key, std::string(choice))), defaults);
    }
    CHECK(defaults_found == 1);
    CHECK_THAT(load(yaml_for(o.key, "none-of-them")).problems.at(0).message,
               Catch::Contains("must be one of"));
  }
}

TEST_CASE("a reload keeps each restart-only key and warns about it, and applies the others") {
  // Values other than the default for rows without bounds; bounded rows use a bound.
  const std::map<std::string, std::string> samples = {
      {"listen.sse", "\"127.0.0.1:9\""},
      {"listen.admin", "\"[::1]:9\""},
      {"listen.sse_tls",
       "\"127.0.0.1:9\"\ntls:\n  certificate_file: \"" + std::string(SIDECAR_SOURCE_DIR) +
           "/tests/unit/fixtures/redis_password\"\n  key_file: \"" +
           std::string(SIDECAR_SOURCE_DIR) + "/tests/unit/fixtures/redis_password\""},
      {"tls.certificate_file",
       "\"" + std::string(SIDECAR_SOURCE_DIR) + "/tests/unit/fixtures/redis_password\""},
      {"tls.key_file",
       "\"" + std::string(SIDECAR_SOURCE_DIR) + "/tests/unit/fixtures/redis_password\""},
      {"publish.socket", "/tmp/other.sock"},
      {"publish.socket_mode", "\"0600\""},
      {"publish.socket_group", "wheel"},
      {"publish.allowed_uids", "[1000]"},
      {"publish.socket_topics", "[\"jobs.*\"]"},
      {"stream.allow_patterns", "false"},
      {"access.public_topics", "[\"news.*\"]"},
      {"access.cookie", "session"},
      {"cors.allow_origins", "[\"https://app.example.com\"]"},
      {"log.level", "debug"},
      {"state_file", "/tmp/state"},
      {"engine.type", "redis"},
      {"engine.redis.address", "\"10.0.0.1:6380\""},
      {"engine.redis.username", "app"},
      {"engine.redis.password_file",
       "\"" + std::string(SIDECAR_SOURCE_DIR) + "/tests/unit/fixtures/redis_password\""},
      {"engine.redis.key_prefix", "\"app2:\""},
      {"engine.redis.sentinels", "[\"10.0.0.2:26379\"]"},
      {"engine.redis.master_name", "other"},
  };
  const Config running = load_ok("");
  int restart_rows = 0;
  for (const auto& o : config_options()) {
    INFO(o.key);
    std::optional<Config> next;
    if (auto it = samples.find(std::string(o.key)); it != samples.end()) {
      next = load_ok(yaml_for(o.key, it->second));
    } else if (o.bounds) {
      next = load_ok(yaml_for(o.key, bound_text(o, static_cast<std::int64_t>(o.bounds->min))));
      if (o.same(*next, running)) {
        next = load_ok(yaml_for(o.key, bound_text(o, static_cast<std::int64_t>(o.bounds->max))));
      }
    }
    if (o.mutability == Mutability::kRestart) {
      ++restart_rows;
      REQUIRE(next);  // every restart-only row needs a sample above
    }
    if (!next) continue;
    REQUIRE_FALSE(o.same(*next, running));

    auto warnings = keep_restart_only_options(running, *next);
    if (o.mutability == Mutability::kRestart) {
      CHECK(warnings == std::vector<std::string>{"'" + std::string(o.key) +
                                                 "' changed; it takes effect after a restart"});
      CHECK(o.same(*next, running));
    } else {
      CHECK(warnings.empty());
      CHECK_FALSE(o.same(*next, running));
    }
  }
  CHECK(restart_rows == 19);
}

TEST_CASE("a reload warns about each restart-only key changed, in table order") {
  const Config running = load_ok("");
  Config next = load_ok("workers: 2\nlisten:\n  backlog: 64\nstream:\n  retry: 1s\n");
  auto warnings = keep_restart_only_options(running, next);
  CHECK(warnings ==
        std::vector<std::string>{"'listen.backlog' changed; it takes effect after a restart",
                                 "'workers' changed; it takes effect after a restart"});
  CHECK(next.workers == running.workers);
  CHECK(next.listen.backlog == running.listen.backlog);
  CHECK(next.stream.retry == std::chrono::seconds(1));
  CHECK(keep_restart_only_options(running, next).empty());
}
