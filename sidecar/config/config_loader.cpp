#include "sidecar/config/config_loader.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "sidecar/config/config_reader.hpp"
#include "sidecar/config/config_schema.hpp"
#include "sidecar/config/yaml_syntax.hpp"
#include "sidecar/core/file_text.hpp"

namespace sidecar {

std::string ConfigProblem::to_string() const {
  if (line == 0) return file + ": " + message;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

namespace {

// A key directly under a section: an option's row, or (row null) a subsection.
struct Child {
  std::string_view name;
  const ConfigOption* option;
};

// The keys directly under `path` ("" for the top level), in the order of the option table.
std::vector<Child> children(std::string_view path) {
  std::vector<Child> out;
  for (const auto& o : config_options()) {
    std::string_view rest = o.key;
    if (!path.empty()) {
      if (rest.size() <= path.size() || !rest.starts_with(path) || rest[path.size()] != '.') {
        continue;
      }
      rest.remove_prefix(path.size() + 1);
    }
    auto dot = rest.find('.');
    std::string_view name = rest.substr(0, dot);
    if (std::any_of(out.begin(), out.end(), [name](const Child& c) { return c.name == name; })) {
      continue;
    }
    out.push_back({name, dot == std::string_view::npos ? &o : nullptr});
  }
  return out;
}

void read_section(ConfigReader& r, const YAML::Node& node, const std::string& path, Config& c) {
  auto keys = children(path);
  std::vector<std::string_view> names;
  names.reserve(keys.size());
  for (const auto& k : keys) names.push_back(k.name);
  r.mapping(node, path, names, [&](std::size_t i, const YAML::Node& value) {
    if (keys[i].option) {
      keys[i].option->read(r, value, c);
    } else {
      std::string sub = r.current();  // a copy: reading the subsection moves current()
      read_section(r, value, sub, c);
    }
  });
  for (const auto& rule : config_section_rules()) {
    if (rule.section == path) rule.check(r, node, c);
  }
}

}  // namespace

ConfigLoad load_config_text(const std::string& text, const std::string& name) {
  ConfigLoad result;
  ConfigReader reader(name);
  Config config;
  apply_config_defaults(config);
  config.source = name;
  try {
    YAML::Node root = YAML::Load(text);
    if (auto unread = unread_text(text, name)) {
      // Reading what was parsed would only add problems the unread text explains.
      reader.problems().push_back(std::move(*unread));
    } else if (root.IsNull()) {
      // An empty file is a valid config made only of defaults.
    } else {
      read_section(reader, root, "", config);
    }
  } catch (const YAML::Exception& e) {
    reader.problems().push_back(yaml_syntax_problem(text, name, e));
  }
  result.problems = std::move(reader.problems());
  if (result.problems.empty()) result.config = std::move(config);
  return result;
}

ConfigLoad load_config_file(const std::string& path) {
  std::string error;
  auto text = read_file_text(path, error);
  if (!text) {
    ConfigLoad result;
    result.problems.push_back({path, 0, 0, "cannot read file: " + error});
    return result;
  }
  return load_config_text(*text, path);
}

}  // namespace sidecar
