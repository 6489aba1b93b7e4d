// Conversion of YAML values for the config loader. Each reader converts and range-checks one
// node; a value it rejects becomes a problem at the node's position and an empty result, so the
// caller keeps the default and one pass reports every problem in the file.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sidecar/config/config.hpp"
#include "sidecar/config/config_loader.hpp"

namespace sidecar {

class ConfigReader {
 public:
  explicit ConfigReader(std::string file) : file_(std::move(file)) {}

  // Reads the mapping `node` found at `path` ("" for the top level): each key must be one of
  // `names` (all listed, in order, when one is not), given once; `read(i, value)` takes the
  // value of names[i]. While it runs, current() is the key's dotted path. False (reported) when
  // `node` is not a mapping.
  bool mapping(const YAML::Node& node, const std::string& path,
               const std::vector<std::string_view>& names,
               const std::function<void(std::size_t, const YAML::Node&)>& read);

  // A mapping with a reader per key, for the items of lists such as publish.tokens.
  using Field = std::pair<const char*, std::function<void(const YAML::Node&)>>;
  bool section(const YAML::Node& node, const std::string& path, const std::vector<Field>& fields);

  std::optional<std::string> string(const YAML::Node& n);
  std::optional<std::string> choice(const YAML::Node& n,
                                    const std::vector<std::string_view>& allowed);
  std::optional<bool> boolean(const YAML::Node& n);
  std::optional<std::uint64_t> count(const YAML::Node& n, std::uint64_t min, std::uint64_t max);
  std::optional<std::uint64_t> size(const YAML::Node& n, std::uint64_t min, std::uint64_t max);
  std::optional<Millis> duration(const YAML::Node& n, Millis min, Millis max);
  std::optional<double> decimal(const YAML::Node& n, double min, double max);
  // An octal file mode written as a string, such as "0660".
  std::optional<unsigned> file_mode(const YAML::Node& n);

  // A list of strings, each checked by `check` (which returns a reason or ""; null: any).
  std::optional<std::vector<std::string>> strings(
      const YAML::Node& n, const std::function<std::string(const std::string&)>& check);
  std::optional<std::vector<std::uint32_t>> ids(const YAML::Node& n);

  // A list whose items are mappings read by `item` (or, with `from_scalar`, plain strings).
  template <typename T>
  std::optional<std::vector<T>> records(
      const YAML::Node& n,
      const std::function<void(const YAML::Node&, const std::string&, T&)>& item,
      const std::function<void(const YAML::Node&, T&)>& from_scalar = nullptr) {
    if (!n.IsSequence()) {
      problem(n, "'" + current_ + "' must be a list");
      return std::nullopt;
    }
    std::vector<T> values;
    std::string path = current_;
    for (std::size_t i = 0; i < n.size(); ++i) {
      T value{};
      if (from_scalar && n[i].IsScalar()) {
        from_scalar(n[i], value);
      } else {
        item(n[i], path + "[" + std::to_string(i) + "]", value);
      }
      values.push_back(std::move(value));
    }
    current_ = path;
    return values;
  }

  // A path to a file read now, with its content: a reload then picks up a rotated secret, and
  // an unreadable file is a config problem, not a runtime surprise. "" leaves the feature off
  // (no result); an empty file is a problem, its path and content still returned.
  struct File {
    std::string path;
    std::string content;
  };
  std::optional<File> file(const YAML::Node& n);

  const std::string& current() const { return current_; }
  void problem(const YAML::Node& n, std::string message);
  // Whether reading the key at `path`, or anything inside it, reported a problem (a null value
  // included). A check that combines keys ("needs a token") skips the keys already reported,
  // so one mistake makes one message.
  bool reported(std::string_view path) const;
  std::vector<ConfigProblem>& problems() { return problems_; }

 private:
  std::optional<std::string> scalar(const YAML::Node& n, const char* expected);
  bool in_range(const YAML::Node& n, std::uint64_t v, std::uint64_t min, std::uint64_t max,
                const char* unit);

  std::string file_;
  std::string current_;
  std::vector<ConfigProblem> problems_;
  std::vector<std::string> reported_;  // paths whose reading reported a problem
};

}  // namespace sidecar
