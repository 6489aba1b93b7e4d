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

#include "sidecar/core/origin.hpp"
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

  std::function<void(const YAML::Node&)> decimal(double& out, double min, double max) {
    return [this, &out, min, max](const YAML::Node& n) {
      auto s = scalar(n, "a number");
      if (!s) return;
      char* end = nullptr;
      double v = std::strtod(s->c_str(), &end);
      if (s->empty() || end != s->c_str() + s->size() || !(v >= min && v <= max)) {
        return problem(n, "'" + current_ + "' must be a number between " + format(min) + " and " +
                              format(max) + " (got '" + *s + "')");
      }
      out = v;
    };
  }

  std::function<void(const YAML::Node&)> id_list(std::vector<std::uint32_t>& out) {
    return [this, &out](const YAML::Node& n) {
      if (!n.IsSequence()) return problem(n, "'" + current_ + "' must be a list of numeric ids");
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
      out = std::move(values);
    };
  }

  // A list whose items are mappings (or, with `from_scalar`, plain strings) read by `item`.
  template <typename T>
  std::function<void(const YAML::Node&)> records(
      std::vector<T>& out, std::function<void(const YAML::Node&, const std::string&, T&)> item,
      std::function<void(const YAML::Node&, T&)> from_scalar = nullptr) {
    return [this, &out, item = std::move(item),
            from_scalar = std::move(from_scalar)](const YAML::Node& n) {
      if (!n.IsSequence()) return problem(n, "'" + current_ + "' must be a list");
      std::vector<T> values;
      std::string path = current_;
      for (std::size_t i = 0; i < n.size(); ++i) {
        T value{};
        std::string where = path + "[" + std::to_string(i) + "]";
        if (from_scalar && n[i].IsScalar()) {
          from_scalar(n[i], value);
        } else {
          item(n[i], where, value);
        }
        values.push_back(std::move(value));
      }
      current_ = path;
      out = std::move(values);
    };
  }

  // A path to a file read now: its content goes to `content`, so a reload picks up a
  // rotated secret, and an unreadable file is a config problem, not a runtime surprise.
  std::function<void(const YAML::Node&)> file(std::string& path, std::string& content) {
    return [this, &path, &content](const YAML::Node& n) {
      auto s = scalar(n, "a file path");
      if (!s || s->empty()) return;  // "" leaves the feature off
      std::ifstream in(*s, std::ios::binary);
      if (!in) {
        return problem(n, "'" + current_ + "': cannot read " + *s + ": " + std::strerror(errno));
      }
      std::ostringstream text;
      text << in.rdbuf();
      path = *s;
      content = text.str();
      if (content.empty()) problem(n, "'" + current_ + "': " + *s + " is empty");
    };
  }

  const std::string& current() const { return current_; }

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

  static std::string format(double v) {
    std::ostringstream out;
    out << v;
    return out.str();
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

// An event topic template: "{topic}" stands for the tracked topic; with it replaced by a
// sample topic the result must be a valid topic name.
std::string presence_topic_error(const std::string& text) {
  if (auto error = topic_error(expand_topic_template(text, "a.b")); !error.empty()) {
    return "'" + text + "' is not a topic (\"{topic}\" may stand for the tracked topic): " + error;
  }
  return {};
}

std::string origin_error(const std::string& text) {
  if (text == "*") return {};
  std::string error;
  OriginPattern::parse(text, &error);
  return error;
}

// Tokens are stored either as their SHA-256 ("sha256:" and 64 hex digits), so the file need
// not hold the secret, or as they are, then long enough not to be guessed.
std::string token_error(const std::string& token) {
  if (token.starts_with("sha256:")) {
    std::string_view hex = std::string_view(token).substr(7);
    bool ok = hex.size() == 64 && std::all_of(hex.begin(), hex.end(), [](char c) {
                return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
              });
    return ok ? std::string() : "a hashed token is \"sha256:\" followed by 64 hex digits";
  }
  return token.size() < 16 ? "tokens must be at least 16 characters (or \"sha256:<hex>\")"
                           : std::string();
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

  auto token = [&r](std::string& out) {
    return [&r, &out](const YAML::Node& n) {
      r.string(out)(n);
      if (auto reason = token_error(out); !reason.empty())
        r.problem(n, "'" + r.current() + "': " + reason);
    };
  };
  auto publisher_tokens = r.records<PublisherToken>(
      c.publish.tokens,
      [&r, token](const YAML::Node& n, const std::string& path, PublisherToken& t) {
        r.section(n, path,
                  {{"token", token(t.token)},
                   {"name", r.string(t.name)},
                   {"topics", r.list(t.topics, pattern_error)}});
        if (t.token.empty()) r.problem(n, "'" + path + "' needs a token");
      },
      // A bare string is a token allowed every topic.
      [token](const YAML::Node& n, PublisherToken& t) { token(t.token)(n); });
  auto subscriber_tokens = r.records<SubscriberToken>(
      c.access.tokens,
      [&r, token](const YAML::Node& n, const std::string& path, SubscriberToken& t) {
        r.section(n, path,
                  {{"token", token(t.token)},
                   {"subject", r.string(t.subject)},
                   {"topics", r.list(t.topics, pattern_error)}});
        if (t.token.empty() || t.subject.empty() || t.topics.empty()) {
          r.problem(n, "'" + path + "' needs token, subject and topics");
        }
      });
  auto jwt = [&](const YAML::Node& n) {
    auto keys = r.records<JwtKeyConfig>(
        c.access.jwt.keys, [&r](const YAML::Node& k, const std::string& path, JwtKeyConfig& key) {
          r.section(k, path,
                    {{"algorithm",
                      r.choice(key.algorithm, {"HS256", "HS384", "HS512", "RS256", "ES256"})},
                     {"kid", r.string(key.kid)},
                     {"file", r.file(key.file, key.material)}});
          if (key.algorithm.empty() || key.file.empty()) {
            r.problem(k, "'" + path + "' needs algorithm and file");
          }
        });
    r.section(n, "access.jwt",
              {{"keys", keys},
               {"issuer", r.string(c.access.jwt.issuer)},
               {"audience", r.string(c.access.jwt.audience)},
               {"leeway", r.duration(c.access.jwt.leeway, Millis(0), Millis(3600000))},
               {"topics_claim", r.string(c.access.jwt.topics_claim)},
               {"require_exp", r.boolean(c.access.jwt.require_exp)}});
  };
  auto signed_urls = [&](const YAML::Node& n) {
    r.section(
        n, "access.signed_urls",
        {{"secret_file", r.file(c.access.signed_urls.secret_file, c.access.signed_urls.secret)},
         {"max_lifetime", r.duration(c.access.signed_urls.max_lifetime, Millis(1000),
                                     Millis(366LL * 86400 * 1000))}});
  };
  auto delegate = [&](const YAML::Node& n) {
    r.section(n, "access.delegate",
              {{"url", r.string(c.access.delegate.url)},
               {"forward_headers", r.list(c.access.delegate.forward_headers,
                                          [](const std::string&) { return std::string(); })},
               {"timeout", r.duration(c.access.delegate.timeout, Millis(10), Millis(60000))},
               {"max_concurrent", r.number(c.access.delegate.max_concurrent, 1, 100000)},
               {"cache_ttl", r.duration(c.access.delegate.cache_ttl, Millis(0), Millis(3600000))}});
    const auto& url = c.access.delegate.url;
    if (!url.empty() && !url.starts_with("http://") && !url.starts_with("https://")) {
      r.problem(n, "'access.delegate.url' must be an http:// or https:// URL");
    }
  };

  auto presence = [&](const YAML::Node& n) {
    auto& p = c.presence;
    auto rules = r.records<PresenceRule>(
        p.rules, [&r](const YAML::Node& item, const std::string& path, PresenceRule& rule) {
          r.section(item, path,
                    {{"topics", r.list(rule.topics, pattern_error)},
                     {"event_topic", r.string(rule.event_topic)},
                     {"webhook", r.boolean(rule.webhook)}});
          if (rule.topics.empty()) r.problem(item, "'" + path + "' needs topics");
          if (rule.event_topic.empty() && !rule.webhook) {
            r.problem(item, "'" + path + "' reports nowhere: set event_topic, webhook, or both");
          }
          if (!rule.event_topic.empty()) {
            if (auto error = presence_topic_error(rule.event_topic); !error.empty()) {
              r.problem(item, "'" + path + ".event_topic': " + error);
            }
          }
        });
    auto webhook = [&](const YAML::Node& w) {
      auto& h = p.webhook;
      r.section(w, "presence.webhook",
                {{"url", r.string(h.url)},
                 {"secret_file", r.file(h.secret_file, h.secret)},
                 {"timeout", r.duration(h.timeout, Millis(10), Millis(60000))},
                 {"batch_delay", r.duration(h.batch_delay, Millis(0), Millis(60000))},
                 {"max_batch", r.number(h.max_batch, 1, 100000)},
                 {"max_retries", r.number(h.max_retries, 0, 1000)},
                 {"max_backoff", r.duration(h.max_backoff, Millis(100), Millis(3600000))},
                 {"max_queue", r.number(h.max_queue, 1, 100000000)}});
      if (!h.url.empty() && !h.url.starts_with("http://") && !h.url.starts_with("https://")) {
        r.problem(w, "'presence.webhook.url' must be an http:// or https:// URL");
      }
    };
    r.section(n, "presence", {{"rules", rules}, {"webhook", webhook}});
    bool wants_webhook = std::any_of(p.rules.begin(), p.rules.end(),
                                     [](const PresenceRule& rule) { return rule.webhook; });
    if (wants_webhook && p.webhook.url.empty()) {
      r.problem(n, "'presence.rules' report to the webhook but 'presence.webhook.url' is not set");
    }
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
             r.section(
                 n, "publish",
                 {{"socket", r.string(c.publish.socket)},
                  {"socket_mode", mode},
                  {"socket_group", r.string(c.publish.socket_group)},
                  {"allowed_uids", r.id_list(c.publish.allowed_uids)},
                  {"allowed_gids", r.id_list(c.publish.allowed_gids)},
                  {"socket_topics", r.list(c.publish.socket_topics, pattern_error)},
                  {"tokens", publisher_tokens},
                  {"hmac_secret_file", r.file(c.publish.hmac_secret_file, c.publish.hmac_secret)},
                  {"hmac_window", r.duration(c.publish.hmac_window, Millis(1000), Millis(3600000))},
                  {"hmac_topics", r.list(c.publish.hmac_topics, pattern_error)},
                  {"rate", r.decimal(c.publish.rate, 0, 1e9)},
                  {"burst", r.number(c.publish.burst, 1, kUnbounded)},
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
                  {"subscriber_buffer_bytes", r.size(c.limits.subscriber_buffer_bytes, 4096, kGiB)},
                  {"max_connections_per_ip",
                   r.number(c.limits.max_connections_per_ip, 0, kUnbounded)},
                  {"max_connections_per_subject",
                   r.number(c.limits.max_connections_per_subject, 0, kUnbounded)},
                  {"connect_rate_per_ip", r.decimal(c.limits.connect_rate_per_ip, 0, 1e6)},
                  {"connect_burst_per_ip",
                   r.number(c.limits.connect_burst_per_ip, 1, kUnbounded)}});
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
                        {"allow_patterns", r.boolean(c.stream.allow_patterns)},
                        {"max_duration",
                         r.duration(c.stream.max_duration, Millis(0), Millis(7LL * 86400000))}});
           }},
          {"access",
           [&](const YAML::Node& n) {
             r.section(n, "access",
                       {{"public_topics", r.list(c.access.public_topics, pattern_error)},
                        {"cookie", r.string(c.access.cookie)},
                        {"tokens", subscriber_tokens},
                        {"jwt", jwt},
                        {"signed_urls", signed_urls},
                        {"delegate", delegate}});
           }},
          {"cors",
           [&](const YAML::Node& n) {
             r.section(n, "cors",
                       {{"allow_origins", r.list(c.cors.allow_origins, origin_error)},
                        {"allow_credentials", r.boolean(c.cors.allow_credentials)},
                        {"allow_no_origin", r.boolean(c.cors.allow_no_origin)},
                        {"max_age", r.duration(c.cors.max_age, Millis(0), Millis(86400000))}});
           }},
          {"log",
           [&](const YAML::Node& n) {
             r.section(n, "log",
                       {{"level",
                         r.choice(c.log.level, {"trace", "debug", "info", "warn", "error", "off"})},
                        {"format", r.choice(c.log.format, {"text", "json"})},
                        {"access", r.boolean(c.log.access)}});
           }},
          {"presence", presence},
          {"drain_timeout", r.duration(c.drain_timeout, Millis(0), Millis(600000))},
          {"state_file", r.string(c.state_file)},
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
