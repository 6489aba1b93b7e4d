// YAML syntax mistakes as config problems, located where the mistake is. yaml-cpp 0.7 reports
// an unclosed '[' or '{' where it gave up looking for the closing bracket, often lines later,
// and reads no further than the first document: a quoted value whose closing quote is missing
// runs to the end of the file, and whatever follows a second '---' or a stray ',' is ignored,
// all without a word.
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

// For a document that parsed: text that YAML::Load silently leaves unread. That is a quoted
// value whose closing quote is missing (reported at its opening quote), a second document, or a
// character the parser stops at; none when the whole file was read.
std::optional<ConfigProblem> unread_text(const std::string& text, const std::string& name);

}  // namespace sidecar
