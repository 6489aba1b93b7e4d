// YAML syntax mistakes as config problems, located where the mistake is. yaml-cpp 0.7 reports
// an unclosed '[' or '{' where it gave up looking for the closing bracket, often lines later,
// and takes a quoted value whose closing quote is missing as running to the end of the file
// (the keys after it silently vanish into it).
#pragma once

#include <yaml-cpp/exceptions.h>

#include <optional>
#include <string>

#include "sidecar/config/config_loader.hpp"

namespace sidecar {

// `text` is the document that failed to parse with `error`, `name` the file it came from. An
// unclosed flow collection is reported at its opening bracket.
ConfigProblem yaml_syntax_problem(const std::string& text, const std::string& name,
                                  const YAML::Exception& error);

// For a document that parsed: the quoted value whose closing quote is missing, reported at its
// opening quote; none when every quote is closed.
std::optional<ConfigProblem> unclosed_quote(const std::string& text, const std::string& name);

}  // namespace sidecar
