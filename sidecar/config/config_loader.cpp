#include "sidecar/config/config_loader.hpp"

#include <event2/util.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>

#include "sidecar/core/topic.hpp"
#include "sidecar/core/units.hpp"

namespace sidecar {

std::string ConfigProblem::to_string() const {
  if (line == 0) return file + ": " + message;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

namespace {

// One schema walk over the YAML tree: each section lists its keys with a reader for each; the
// readers convert and range-check, recording problems at the node's position and keeping the
// default when a value is rejected.
class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  using Field = std::pair<const char*, std::function<void(const YAML::Node&)>>;

  void section(const YAML::Node& node, const std::string& path, const std::vector<Field>& fields) {
    if (!node.IsMap()) {
      problem(node, (path.empty() ? std::string("the top level") : "'" + path + "'") +
                        " must be a mapping of keys to values");
      return;
    }
    for (const auto& entry : node) {
      auto key = entry.first.as<std::string>();
      auto it = std::find_if(fields.begin(), fields.end(),
                             [&](const Field& f) { return key == f.first; });
      if (it == fields.end()) {
        std::string known;
        for (const auto& f : fields) known += (known.empty() ? "" : ", ") + std::string(f.first);
        problem(entry.first,
                "unknown key '" + qualified(path, key) + "' (expected one of: " + known + ")");
        continue;
      }
      current_ = qualified(path, key);
      if (entry.second.IsNull()) {
        problem(entry.second, "'" + current_ + "' has no value");
        continue;
      }
      it->second(entry.second);
    }
  }

  std::function<void(const YAML::Node&)> string(std::string& out) {
    return [this, &out](const YAML::Node& n) {
      if (auto s = scalar(n, "a string")) out = *s;
    };
  }

  std::function<void(const YAML::Node&)> choice(std::string& out,
                                                std::vector<std::string> allowed) {
    return [this, &out, allowed = std::move(allowed)](const YAML::Node& n) {
      auto s = scalar(n, "a string");
      if (!s) return;
      if (std::find(allowed.begin(), allowed.end(), *s) == allowed.end()) {
        std::string list;
        for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
        problem(n, "'" + current_ + "' must be one of: " + list + " (got '" + *s + "')");
        return;
      }
      out = *s;
    };
  }

  template <typename T>
  std::function<void(const YAML::Node&)> number(T& out, std::uint64_t min, std::uint64_t max) {
    return [this, &out, min, max](const YAML::Node& n) {
      auto s = scalar(n, "a whole number");
      if (!s) return;
      auto v = parse_uint(*s);
      if (!v) return problem(n, "'" + current_ + "' must be a whole number (got '" + *s + "')");
      if (in_range(n, *v, min, max, "")) out = static_cast<T>(*v);
    };
  }

  std::function<void(const YAML::Node&)> size(std::size_t& out, std::uint64_t min,
                                              std::uint64_t max) {
    return [this, &out, min, max](const YAML::Node& n) {
      auto s = scalar(n, "a size");
      if (!s) return;
      auto v = parse_size(*s);
      if (!v) {
        return problem(
            n, "'" + current_ + "' must be a size such as 65536, 64KiB or 1MiB (got '" + *s + "')");
      }
      if (in_range(n, *v, min, max, " bytes")) out = *v;
    };
  }

  std::function<void(const YAML::Node&)> duration(Millis& out, Millis min, Millis max) {
    return [this, &out, min, max](const YAML::Node& n) {
      auto s = scalar(n, "a duration");
      if (!s) return;
      auto v = parse_duration(*s);
      if (!v) {
        return problem(n, "'" + current_ + "' must be a duration such as 500ms, 15s or 10m (got '" +
                              *s + "')");
      }
      if (in_range(n, v->count(), min.count(), max.count(), "ms")) out = *v;
    };
  }

  std::function<void(const YAML::Node&)> boolean(bool& out) {
    return [this, &out](const YAML::Node& n) {
      auto s = scalar(n, "true or false");
      if (!s) return;
      if (*s == "true")
        out = true;
      else if (*s == "false")
        out = false;
      else
        problem(n, "'" + current_ + "' must be true or false (got '" + *s + "')");
    };
  }

  // A list of strings, each checked by `check` (which returns a reason or "").
  std::function<void(const YAML::Node&)> list(
      std::vector<std::string>& out, std::function<std::string(const std::string&)> check) {
    return [this, &out, check = std::move(check)](const YAML::Node& n) {
      if (!n.IsSequence()) return problem(n, "'" + current_ + "' must be a list");
      std::vector<std::string> values;
      for (const auto& item : n) {
        auto s = scalar(item, "a string");
        if (!s) continue;
        if (auto reason = check(*s); !reason.empty()) {
          problem(item, "'" + current_ + "': " + reason);
          continue;
        }
        values.push_back(*s);
      }
      out = std::move(values);
    };
  }

  void problem(const YAML::Node& n, std::string message) {
    const auto mark = n.Mark();
    problems_.push_back({file_, mark.line + 1, mark.column + 1, std::move(message)});
  }

  std::vector<ConfigProblem>& problems() { return problems_; }

 private:
  static std::string qualified(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }

  std::optional<std::string> scalar(const YAML::Node& n, const char* expected) {
    if (!n.IsScalar()) {
      problem(n, "'" + current_ + "' must be " + expected);
      return std::nullopt;
    }
    return n.Scalar();
  }

  bool in_range(const YAML::Node& n, std::uint64_t v, std::uint64_t min, std::uint64_t max,
                const char* unit) {
    if (v >= min && v <= max) return true;
    problem(n, "'" + current_ + "' must be between " + std::to_string(min) + unit + " and " +
                   std::to_string(max) + unit + " (got " + std::to_string(v) + unit + ")");
    return false;
  }

  std::string file_;
  std::string current_;
  std::vector<ConfigProblem> problems_;
};

std::string address_error(const std::string& text) {
  sockaddr_storage ss{};
  int len = sizeof(ss);
  if (evutil_parse_sockaddr_port(text.c_str(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return "'" + text + "' is not an address such as 127.0.0.1:7700 or [::1]:7700";
  }
  return {};
}

std::string pattern_error(const std::string& text) {
  std::string error;
  TopicPattern::parse(text, &error);
  return error;
}

std::string origin_error(const std::string& text) {
  if (text == "*") return {};
  if (!(text.starts_with("http://") || text.starts_with("https://")) || text.ends_with("/")) {
    return "'" + text + "' is not an origin such as https://app.example.com or \"*\"";
  }
  return {};
}

constexpr std::uint64_t kUnbounded = std::numeric_limits<std::uint32_t>::max();
constexpr std::uint64_t kGiB = 1ULL << 30;

void read_root(Reader& r, const YAML::Node& root, Config& c) {
  auto address = [&r](std::string& out) {
    return [&r, &out, inner = r.string(out)](const YAML::Node& n) {
      inner(n);
      if (auto reason = address_error(out); !reason.empty()) {
        r.problem(n, reason);
        out.clear();
      }
    };
  };
  auto mode = [&r, &c](const YAML::Node& n) {
    std::string text;
    r.string(text)(n);
    unsigned value = 0;
    bool ok = !text.empty() && text.size() <= 4;
    for (char ch : text) {
      ok = ok && ch >= '0' && ch <= '7';
      value = value * 8 + static_cast<unsigned>(ch - '0');
    }
    if (ok)
      c.publish.socket_mode = value;
    else
      r.problem(n, "'publish.socket_mode' must be an octal file mode such as \"0660\"");
  };

  r.section(
      root, "",
      {
          {"listen",
           [&](const YAML::Node& n) {
             r.section(n, "listen",
                       {{"sse", address(c.listen.sse)},
                        {"admin", address(c.listen.admin)},
                        {"backlog", r.number(c.listen.backlog, 1, 65535)}});
           }},
          {"workers", r.number(c.workers, 0, 256)},
          {"publish",
           [&](const YAML::Node& n) {
             r.section(n, "publish",
                       {{"socket", r.string(c.publish.socket)},
                        {"socket_mode", mode},
                        {"tokens", r.list(c.publish.tokens,
                                          [](const std::string& t) {
                                            return t.size() < 16 ? std::string(
                                                                       "publisher tokens must "
                                                                       "be at least 16 characters")
                                                                 : std::string();
                                          })},
                        {"max_line_bytes", r.size(c.publish.max_line_bytes, 1024, kGiB)},
                        {"reply_buffer_bytes", r.size(c.publish.reply_buffer_bytes, 4096, kGiB)}});
           }},
          {"limits",
           [&](const YAML::Node& n) {
             r.section(
                 n, "limits",
                 {{"max_connections", r.number(c.limits.max_connections, 1, kUnbounded)},
                  {"max_topics_per_stream", r.number(c.limits.max_topics_per_stream, 1, 1024)},
                  {"max_event_bytes", r.size(c.limits.max_event_bytes, 64, 64 * MiB)},
                  {"max_request_header_bytes",
                   r.size(c.limits.max_request_header_bytes, 1024, 1 * MiB)},
                  {"request_timeout",
                   r.duration(c.limits.request_timeout, Millis(100), Millis(600000))},
                  {"subscriber_buffer_bytes",
                   r.size(c.limits.subscriber_buffer_bytes, 4096, kGiB)}});
           }},
          {"history",
           [&](const YAML::Node& n) {
             r.section(n, "history",
                       {{"max_events", r.number(c.history.max_events, 0, 10000000)},
                        {"max_bytes", r.size(c.history.max_bytes, 0, 64 * kGiB)},
                        {"max_age", r.duration(c.history.max_age, Millis(1000),
                                               Millis(7LL * 24 * 3600 * 1000))}});
           }},
          {"stream",
           [&](const YAML::Node& n) {
             r.section(n, "stream",
                       {{"heartbeat_interval",
                         r.duration(c.stream.heartbeat_interval, Millis(100), Millis(3600000))},
                        {"retry", r.duration(c.stream.retry, Millis(0), Millis(3600000))},
                        {"allow_patterns", r.boolean(c.stream.allow_patterns)}});
           }},
          {"access",
           [&](const YAML::Node& n) {
             r.section(n, "access",
                       {{"public_topics", r.list(c.access.public_topics, pattern_error)}});
           }},
          {"cors",
           [&](const YAML::Node& n) {
             r.section(n, "cors", {{"allow_origins", r.list(c.cors.allow_origins, origin_error)}});
           }},
          {"log",
           [&](const YAML::Node& n) {
             r.section(n, "log",
                       {{"level",
                         r.choice(c.log.level, {"trace", "debug", "info", "warn", "error", "off"})},
                        {"format", r.choice(c.log.format, {"text", "json"})}});
           }},
          {"drain_timeout", r.duration(c.drain_timeout, Millis(0), Millis(600000))},
      });
}

}  // namespace

ConfigLoad load_config_text(const std::string& text, const std::string& name) {
  ConfigLoad result;
  Reader reader(name);
  Config config;
  config.source = name;
  try {
    YAML::Node root = YAML::Load(text);
    if (root.IsNull()) {
      // An empty file is a valid config made only of defaults.
    } else {
      read_root(reader, root, config);
    }
  } catch (const YAML::Exception& e) {
    reader.problems().push_back({name, e.mark.line + 1, e.mark.column + 1, e.msg});
  }
  result.problems = std::move(reader.problems());
  if (result.problems.empty()) result.config = std::move(config);
  return result;
}

ConfigLoad load_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ConfigLoad result;
    result.problems.push_back(
        {path, 0, 0, "cannot read file: " + std::string(std::strerror(errno))});
    return result;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return load_config_text(text.str(), path);
}

}  // namespace sidecar
