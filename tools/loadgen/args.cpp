#include "tools/loadgen/args.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace loadgen {

ParsedArgs ParsedArgs::parse(std::span<char* const> args, std::span<const OptionSpec> specs) {
  ParsedArgs out;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg.size() < 3 || arg.substr(0, 2) != "--") {
      throw UsageError("unexpected argument '" + std::string(arg) + "'");
    }
    std::string_view name = arg.substr(2);
    std::string_view inline_value;
    bool has_inline = false;
    if (auto eq = name.find('='); eq != std::string_view::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_inline = true;
    }
    const OptionSpec* spec = nullptr;
    for (const OptionSpec& s : specs) {
      if (s.name == name) spec = &s;
    }
    if (!spec) throw UsageError("unknown option --" + std::string(name));
    std::string key(name);
    if (out.values_.count(key)) throw UsageError("--" + key + " given twice");
    if (!spec->takes_value) {
      if (has_inline) throw UsageError("--" + key + " takes no value");
      out.values_[key] = "";
      continue;
    }
    if (has_inline) {
      out.values_[key] = std::string(inline_value);
    } else if (i + 1 < args.size()) {
      out.values_[key] = args[++i];
    } else {
      throw UsageError("--" + key + " needs a value");
    }
  }
  return out;
}

std::string ParsedArgs::text(std::string_view name, std::string_view fallback) const {
  auto it = values_.find(std::string(name));
  return it == values_.end() ? std::string(fallback) : it->second;
}

std::string ParsedArgs::required_text(std::string_view name) const {
  auto it = values_.find(std::string(name));
  if (it == values_.end() || it->second.empty()) {
    throw UsageError("--" + std::string(name) + " is required");
  }
  return it->second;
}

uint64_t ParsedArgs::integer(std::string_view name, uint64_t fallback, uint64_t min,
                             uint64_t max) const {
  auto it = values_.find(std::string(name));
  if (it == values_.end()) return fallback;
  const std::string& v = it->second;
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), value);
  if (ec != std::errc() || end != v.data() + v.size() || v.empty()) {
    throw UsageError("--" + std::string(name) + ": '" + v + "' is not a whole number");
  }
  if (value < min || value > max) {
    throw UsageError("--" + std::string(name) + ": " + v + " is outside " + std::to_string(min) +
                     ".." + std::to_string(max));
  }
  return value;
}

double ParsedArgs::number(std::string_view name, double fallback, double min, double max) const {
  auto it = values_.find(std::string(name));
  if (it == values_.end()) return fallback;
  const std::string& v = it->second;
  char* end = nullptr;
  double value = std::strtod(v.c_str(), &end);
  if (v.empty() || end != v.c_str() + v.size() || !std::isfinite(value)) {
    throw UsageError("--" + std::string(name) + ": '" + v + "' is not a number");
  }
  if (value < min || value > max) {
    throw UsageError("--" + std::string(name) + ": " + v + " is out of range");
  }
  return value;
}

}  // namespace loadgen
