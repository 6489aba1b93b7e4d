// The configuration's keys, one row each: the dotted YAML key, its type, default, bounds, and
// whether a reload applies it. The loader reads YAML by walking the rows, the rows' defaults are
// what a key left out takes, a reload keeps the running value of the restart-only rows, and the
// tests hold config.example.yaml and the Config struct's initialisers to the rows.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sidecar/config/config.hpp"

namespace YAML {
class Node;
}

namespace sidecar {

class ConfigReader;

enum class ConfigType {
  kBool,        // true or false
  kCount,       // whole number
  kDecimal,     // number such as 0.5
  kSize,        // bytes: 65536, 64KiB, 1MiB, 2GiB
  kDuration,    // 500ms, 15s, 10m, 1h
  kString,      // possibly checked (an address, a URL)
  kChoice,      // one of `choices`
  kStrings,     // list of strings, each possibly checked (topic patterns, origins)
  kIds,         // list of numeric uids or gids
  kFileMode,    // octal string such as "0660"
  kSecretFile,  // path to a file read at load time (and at each reload)
  kRecords,     // list of mappings (tokens, keys, rules) read by the row's own reader
};

enum class Mutability {
  kReload,   // a reload (SIGHUP) applies a new value
  kRestart,  // bound to sockets or threads at startup: a reload keeps the value and warns
};

// Inclusive bounds in the type's unit: a count, bytes for sizes, milliseconds for durations.
struct ConfigBounds {
  std::uint64_t min = 0;
  std::uint64_t max = 0;
};

struct ConfigOption {
  std::string_view key;  // "limits.max_event_bytes"
  ConfigType type = ConfigType::kString;
  Mutability mutability = Mutability::kReload;
  std::optional<ConfigBounds> bounds;     // kCount, kDecimal, kSize, kDuration
  std::vector<std::string_view> choices;  // kChoice

  // Made from the row's accessor into Config, so they cannot disagree about the field.
  std::function<void(Config&)> set_default;
  // Converts and checks `value`, stores it, or records a problem (then keeps what was there).
  std::function<void(ConfigReader&, const YAML::Node& value, Config&)> read;
  std::function<bool(const Config&, const Config&)> same;
  std::function<void(const Config& from, Config& to)> copy;
};

// In the order the loader lists keys when one is unknown.
const std::vector<ConfigOption>& config_options();
const ConfigOption* find_config_option(std::string_view key);

// A check spanning a section's keys, made once the section has been read (`node` is the
// section's mapping, where its problems are reported).
struct ConfigSectionRule {
  std::string_view section;
  std::function<void(ConfigReader&, const YAML::Node& node, const Config&)> check;
};
const std::vector<ConfigSectionRule>& config_section_rules();

// Sets every row's default.
void apply_config_defaults(Config& config);

// For a reload: puts the running value back into `next` for each restart-only row whose value
// changed, and returns a warning for each ("'workers' changed; it takes effect after a restart").
std::vector<std::string> keep_restart_only_options(const Config& running, Config& next);

}  // namespace sidecar
