// Command-line options of the subcommands: `--name value`, `--name=value` and bare flags.
//
// Parsing happens once at startup, so errors are exceptions here (UsageError); main() turns
// them into a message and exit status 2.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace loadgen {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct OptionSpec {
  std::string_view name;  // without the leading "--"
  bool takes_value;
};

class ParsedArgs {
 public:
  // Throws UsageError for unknown options, missing values, repeated options and positional
  // arguments.
  static ParsedArgs parse(std::span<char* const> args, std::span<const OptionSpec> specs);

  bool has(std::string_view name) const { return values_.count(std::string(name)) != 0; }
  std::string text(std::string_view name, std::string_view fallback = {}) const;
  // Throws UsageError when the value is given but missing; for required options.
  std::string required_text(std::string_view name) const;
  // An integer in [min, max]; `fallback` when absent.
  uint64_t integer(std::string_view name, uint64_t fallback, uint64_t min, uint64_t max) const;
  // A finite number in [min, max]; `fallback` when absent.
  double number(std::string_view name, double fallback, double min, double max) const;

 private:
  std::map<std::string, std::string> values_;
};

}  // namespace loadgen
