// Reads a YAML file into a Config in one validating pass. Every problem found is reported, not
// only the first, each as "FILE:LINE:COL: message".
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "sidecar/config/config.hpp"

namespace sidecar {

struct ConfigProblem {
  std::string file;
  int line = 0;  // 1-based; 0 when the problem is not tied to a place (unreadable file)
  int column = 0;
  std::string message;

  std::string to_string() const;
};

struct ConfigLoad {
  std::optional<Config> config;  // set only when `problems` is empty
  std::vector<ConfigProblem> problems;
};

ConfigLoad load_config_file(const std::string& path);
ConfigLoad load_config_text(const std::string& text, const std::string& name);

}  // namespace sidecar
