#include "sidecar/config/config_reader.hpp"

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include "sidecar/core/file_text.hpp"
#include "sidecar/core/units.hpp"

namespace sidecar {

namespace {

std::string qualified(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

std::string format(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

}  // namespace

bool ConfigReader::mapping(const YAML::Node& node, const std::string& path,
                           const std::vector<std::string_view>& names,
                           const std::function<void(std::size_t, const YAML::Node&)>& read) {
  if (!node.IsMap()) {
    problem(node, (path.empty() ? std::string("the top level") : "'" + path + "'") +
                      " must be a mapping of keys to values");
    reported_.push_back(path);
    return false;
  }
  // YAML forbids a key twice in one mapping, but yaml-cpp keeps both: the later one would
  // silently win.
  std::vector<std::pair<std::string, int>> seen;  // key, line
  for (const auto& entry : node) {
    if (!entry.first.IsScalar()) {
      problem(entry.first, "a key must be a name, not a list or a mapping");
      continue;
    }
    const std::string& key = entry.first.Scalar();
    auto it = std::find(names.begin(), names.end(), key);
    if (it == names.end()) {
      std::string known;
      for (auto name : names) known += (known.empty() ? "" : ", ") + std::string(name);
      problem(entry.first,
              "unknown key '" + qualified(path, key) + "' (expected one of: " + known + ")");
      continue;
    }
    current_ = qualified(path, key);
    auto first =
        std::find_if(seen.begin(), seen.end(), [&key](const auto& s) { return s.first == key; });
    if (first != seen.end()) {
      // Read all the same, so the problems inside it are found in this pass too.
      problem(entry.first, "'" + current_ + "' is set twice (first on line " +
                               std::to_string(first->second) + ")");
    } else {
      seen.emplace_back(key, entry.first.Mark().line + 1);
    }
    if (entry.second.IsNull()) {
      // At the key: a missing value's mark is wherever the parser went next, often a line on.
      problem(entry.first, "'" + current_ + "' has no value");
      reported_.push_back(current_);
      continue;
    }
    std::size_t before = problems_.size();
    read(static_cast<std::size_t>(it - names.begin()), entry.second);
    if (problems_.size() > before) reported_.push_back(qualified(path, key));
  }
  return true;
}

bool ConfigReader::section(const YAML::Node& node, const std::string& path,
                           const std::vector<Field>& fields) {
  std::vector<std::string_view> names;
  names.reserve(fields.size());
  for (const auto& f : fields) names.emplace_back(f.first);
  return mapping(node, path, names,
                 [&fields](std::size_t i, const YAML::Node& value) { fields[i].second(value); });
}

std::optional<std::string> ConfigReader::string(const YAML::Node& n) {
  return scalar(n, "a string");
}

std::optional<std::string> ConfigReader::choice(const YAML::Node& n,
                                                const std::vector<std::string_view>& allowed) {
  auto s = scalar(n, "a string");
  if (!s) return std::nullopt;
  if (std::find(allowed.begin(), allowed.end(), *s) == allowed.end()) {
    std::string list;
    for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    problem(n, "'" + current_ + "' must be one of: " + list + " (got '" + *s + "')");
    return std::nullopt;
  }
  return s;
}

std::optional<bool> ConfigReader::boolean(const YAML::Node& n) {
  auto s = scalar(n, "true or false");
  if (!s) return std::nullopt;
  if (*s == "true") return true;
  if (*s == "false") return false;
  problem(n, "'" + current_ + "' must be true or false (got '" + *s + "')");
  return std::nullopt;
}

std::optional<std::uint64_t> ConfigReader::count(const YAML::Node& n, std::uint64_t min,
                                                 std::uint64_t max) {
  auto s = scalar(n, "a whole number");
  if (!s) return std::nullopt;
  auto v = parse_uint(*s);
  if (!v) {
    problem(n, "'" + current_ + "' must be a whole number (got '" + *s + "')");
    return std::nullopt;
  }
  if (!in_range(n, *v, min, max, "")) return std::nullopt;
  return v;
}

std::optional<std::uint64_t> ConfigReader::size(const YAML::Node& n, std::uint64_t min,
                                                std::uint64_t max) {
  auto s = scalar(n, "a size");
  if (!s) return std::nullopt;
  auto v = parse_size(*s);
  if (!v) {
    problem(n, "'" + current_ + "' must be a size such as 65536, 64KiB or 1MiB (got '" + *s + "')");
    return std::nullopt;
  }
  if (!in_range(n, *v, min, max, " bytes")) return std::nullopt;
  return v;
}

std::optional<Millis> ConfigReader::duration(const YAML::Node& n, Millis min, Millis max) {
  auto s = scalar(n, "a duration");
  if (!s) return std::nullopt;
  auto v = parse_duration(*s);
  if (!v) {
    problem(n,
            "'" + current_ + "' must be a duration such as 500ms, 15s or 10m (got '" + *s + "')");
    return std::nullopt;
  }
  // Durations are never negative (parse_duration takes no sign), nor are the bounds.
  auto ms = static_cast<std::uint64_t>(v->count());
  if (!in_range(n, ms, static_cast<std::uint64_t>(min.count()),
                static_cast<std::uint64_t>(max.count()), "ms")) {
    return std::nullopt;
  }
  return v;
}

std::optional<double> ConfigReader::decimal(const YAML::Node& n, double min, double max) {
  auto s = scalar(n, "a number");
  if (!s) return std::nullopt;
  char* end = nullptr;
  double v = std::strtod(s->c_str(), &end);
  if (s->empty() || end != s->c_str() + s->size() || !(v >= min && v <= max)) {
    problem(n, "'" + current_ + "' must be a number between " + format(min) + " and " +
                   format(max) + " (got '" + *s + "')");
    return std::nullopt;
  }
  return v;
}

std::optional<unsigned> ConfigReader::file_mode(const YAML::Node& n) {
  auto s = string(n);
  if (!s) return std::nullopt;
  const std::string& text = *s;
  unsigned value = 0;
  bool ok = !text.empty() && text.size() <= 4;
  for (char ch : text) {
    ok = ok && ch >= '0' && ch <= '7';
    value = value * 8 + static_cast<unsigned>(ch - '0');
  }
  if (!ok) {
    problem(n, "'" + current_ + "' must be an octal file mode such as \"0660\"");
    return std::nullopt;
  }
  return value;
}

std::optional<std::vector<std::string>> ConfigReader::strings(
    const YAML::Node& n, const std::function<std::string(const std::string&)>& check) {
  if (!n.IsSequence()) {
    problem(n, "'" + current_ + "' must be a list");
    return std::nullopt;
  }
  std::vector<std::string> values;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const YAML::Node item = n[i];
    if (!item.IsScalar()) {
      problem(item, "'" + current_ + "[" + std::to_string(i) + "]' must be a string");
      continue;
    }
    const std::string& s = item.Scalar();
    if (auto reason = check ? check(s) : std::string(); !reason.empty()) {
      problem(item, "'" + current_ + "': " + reason);
      continue;
    }
    values.push_back(s);
  }
  return values;
}

std::optional<std::vector<std::uint32_t>> ConfigReader::ids(const YAML::Node& n) {
  if (!n.IsSequence()) {
    problem(n, "'" + current_ + "' must be a list of numeric ids");
    return std::nullopt;
  }
  std::vector<std::uint32_t> values;
  for (const auto& item : n) {
    auto s = scalar(item, "a numeric id");
    auto v = s ? parse_uint(*s) : std::nullopt;
    if (!v || *v > 0xffffffffu) {
      problem(item, "'" + current_ + "' must hold numeric ids (got '" + s.value_or("") + "')");
      continue;
    }
    values.push_back(static_cast<std::uint32_t>(*v));
  }
  return values;
}

std::optional<ConfigReader::File> ConfigReader::file(const YAML::Node& n) {
  auto s = scalar(n, "a file path");
  if (!s || s->empty()) return std::nullopt;
  std::string error;
  auto text = read_file_text(*s, error);
  if (!text) {
    problem(n, "'" + current_ + "': cannot read " + *s + ": " + error);
    return std::nullopt;
  }
  File f{*s, std::move(*text)};
  if (f.content.empty()) problem(n, "'" + current_ + "': " + *s + " is empty");
  return f;
}

void ConfigReader::problem(const YAML::Node& n, std::string message) {
  const auto mark = n.Mark();
  problems_.push_back({file_, mark.line + 1, mark.column + 1, std::move(message)});
}

bool ConfigReader::reported(std::string_view path) const {
  return std::any_of(reported_.begin(), reported_.end(), [path](std::string_view p) {
    return p.starts_with(path) &&
           (p.size() == path.size() || p[path.size()] == '.' || p[path.size()] == '[');
  });
}

std::optional<std::string> ConfigReader::scalar(const YAML::Node& n, const char* expected) {
  if (!n.IsScalar()) {
    problem(n, "'" + current_ + "' must be " + expected);
    return std::nullopt;
  }
  return n.Scalar();
}

bool ConfigReader::in_range(const YAML::Node& n, std::uint64_t v, std::uint64_t min,
                            std::uint64_t max, const char* unit) {
  if (v >= min && v <= max) return true;
  problem(n, "'" + current_ + "' must be between " + std::to_string(min) + unit + " and " +
                 std::to_string(max) + unit + " (got " + std::to_string(v) + unit + ")");
  return false;
}

}  // namespace sidecar
