#include "sidecar/config/config_schema.hpp"

#include <event2/util.h>

#include <algorithm>
#include <chrono>
#include <tuple>
#include <type_traits>
#include <utility>

#include "sidecar/config/config_reader.hpp"
#include "sidecar/core/origin.hpp"
#include "sidecar/core/topic.hpp"

namespace sidecar {

namespace {

// Checks of single values: each returns why a value is refused, or "".

std::string address_error(const std::string& text) {
  sockaddr_storage ss{};
  int len = sizeof(ss);
  if (evutil_parse_sockaddr_port(text.c_str(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return "'" + text + "' is not an address such as 127.0.0.1:7700 or [::1]:7700";
  }
  return {};
}

// host:port (a name is fine: Redis may be reached by name), or unix:/absolute/path.
std::string redis_address_error(const std::string& text) {
  if (text.rfind("unix:", 0) == 0) {
    if (text.size() > 5 && text[5] == '/') return {};
    return "'" + text + "' must name an absolute socket path, such as unix:/run/redis/redis.sock";
  }
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    return "'" + text + "' is not an address such as 127.0.0.1:6379 or unix:/path";
  }
  for (std::size_t i = colon + 1; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') return "'" + text + "' has no valid port";
  }
  return {};
}

std::string optional_address_error(const std::string& text) {
  return text.empty() ? std::string() : address_error(text);
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

bool is_http_url(const std::string& url) {
  return url.starts_with("http://") || url.starts_with("https://");
}

// Readers of the compound rows: lists of mappings with rules between their keys.

void read_token(ConfigReader& r, const YAML::Node& n, std::string& out) {
  auto token = r.string(n);
  if (!token) return;
  if (auto reason = token_error(*token); !reason.empty()) {
    r.problem(n, "'" + r.current() + "': " + reason);
    return;
  }
  out = std::move(*token);
}

// Reports the keys of the item at `path` that it needs and lacks ("'P' needs token and
// subject"), leaving out those whose value was already reported as wrong.
void require_keys(ConfigReader& r, const YAML::Node& item, const std::string& path,
                  const std::vector<std::pair<const char*, bool>>& keys) {
  std::vector<std::string> missing;
  for (const auto& [key, present] : keys) {
    if (!present && !r.reported(path + "." + key)) missing.emplace_back(key);
  }
  if (missing.empty()) return;
  std::string list;
  for (std::size_t i = 0; i < missing.size(); ++i) {
    if (i > 0) list += i + 1 == missing.size() ? " and " : ", ";
    list += missing[i];
  }
  r.problem(item, "'" + path + "' needs " + list);
}

void read_topic_patterns(ConfigReader& r, const YAML::Node& n, std::vector<std::string>& out) {
  if (auto v = r.strings(n, pattern_error)) out = std::move(*v);
}

std::optional<std::vector<PublisherToken>> read_publisher_tokens(ConfigReader& r,
                                                                 const YAML::Node& n) {
  return r.records<PublisherToken>(
      n,
      [&r](const YAML::Node& item, const std::string& path, PublisherToken& t) {
        bool mapping = r.section(
            item, path,
            {{"token", [&](const YAML::Node& v) { read_token(r, v, t.token); }},
             {"name", [&](const YAML::Node& v) { t.name = r.string(v).value_or(t.name); }},
             {"topics", [&](const YAML::Node& v) { read_topic_patterns(r, v, t.topics); }}});
        if (mapping) require_keys(r, item, path, {{"token", !t.token.empty()}});
      },
      // A bare string is a token allowed every topic.
      [&r](const YAML::Node& item, PublisherToken& t) { read_token(r, item, t.token); });
}

std::optional<std::vector<SubscriberToken>> read_subscriber_tokens(ConfigReader& r,
                                                                   const YAML::Node& n) {
  return r.records<SubscriberToken>(
      n, [&r](const YAML::Node& item, const std::string& path, SubscriberToken& t) {
        bool mapping = r.section(
            item, path,
            {{"token", [&](const YAML::Node& v) { read_token(r, v, t.token); }},
             {"subject", [&](const YAML::Node& v) { t.subject = r.string(v).value_or(t.subject); }},
             {"topics", [&](const YAML::Node& v) { read_topic_patterns(r, v, t.topics); }}});
        if (mapping) {
          require_keys(r, item, path,
                       {{"token", !t.token.empty()},
                        {"subject", !t.subject.empty()},
                        {"topics", !t.topics.empty()}});
        }
      });
}

std::optional<std::vector<JwtKeyConfig>> read_jwt_keys(ConfigReader& r, const YAML::Node& n) {
  return r.records<JwtKeyConfig>(n, [&r](const YAML::Node& item, const std::string& path,
                                         JwtKeyConfig& key) {
    bool mapping = r.section(
        item, path,
        {{"algorithm",
          [&](const YAML::Node& v) {
            key.algorithm =
                r.choice(v, {"HS256", "HS384", "HS512", "RS256", "ES256"}).value_or(key.algorithm);
          }},
         {"kid", [&](const YAML::Node& v) { key.kid = r.string(v).value_or(key.kid); }},
         {"file", [&](const YAML::Node& v) {
            if (v.IsScalar() && v.Scalar().empty()) {
              r.problem(v, "'" + r.current() + "' must name a file");
            } else if (auto f = r.file(v)) {
              key.file = std::move(f->path);
              key.material = std::move(f->content);
              // Whether the file holds a usable key is checked by the auth layer, which
              // reports it here: on the line that names the file.
              key.file_line = v.Mark().line + 1;
              key.file_column = v.Mark().column + 1;
            }
          }}});
    if (mapping) {
      require_keys(r, item, path,
                   {{"algorithm", !key.algorithm.empty()}, {"file", !key.file.empty()}});
    }
  });
}

std::optional<std::vector<PresenceRule>> read_presence_rules(ConfigReader& r, const YAML::Node& n) {
  return r.records<PresenceRule>(n, [&r](const YAML::Node& item, const std::string& path,
                                         PresenceRule& rule) {
    bool mapping = r.section(
        item, path,
        {{"topics", [&](const YAML::Node& v) { read_topic_patterns(r, v, rule.topics); }},
         {"event_topic",
          [&](const YAML::Node& v) { rule.event_topic = r.string(v).value_or(rule.event_topic); }},
         {"webhook",
          [&](const YAML::Node& v) { rule.webhook = r.boolean(v).value_or(rule.webhook); }}});
    if (!mapping) return;
    require_keys(r, item, path, {{"topics", !rule.topics.empty()}});
    if (rule.event_topic.empty() && !rule.webhook && !r.reported(path + ".event_topic") &&
        !r.reported(path + ".webhook")) {
      r.problem(item, "'" + path + "' reports nowhere: set event_topic, webhook, or both");
    }
    if (!rule.event_topic.empty()) {
      if (auto error = presence_topic_error(rule.event_topic); !error.empty()) {
        r.problem(item, "'" + path + ".event_topic': " + error);
      }
    }
  });
}

// Row makers. `get` is the row's accessor, a lambda returning the field of a Config (const or
// not), and `parse` reads a YAML value for it (empty when refused, the problem recorded); every
// hook of the row is made from them.

template <typename Get>
using Field = std::remove_cvref_t<std::invoke_result_t<Get, Config&>>;

template <typename Get, typename Parse>
ConfigOption row(std::string_view key, ConfigType type, Get get, Field<Get> fallback,
                 Mutability mutability, Parse parse) {
  ConfigOption o;
  o.key = key;
  o.type = type;
  o.mutability = mutability;
  o.set_default = [get, fallback = std::move(fallback)](Config& c) { get(c) = fallback; };
  o.read = [get, parse](ConfigReader& r, const YAML::Node& n, Config& c) {
    if (auto v = parse(r, n)) get(c) = static_cast<Field<Get>>(std::move(*v));
  };
  o.same = [get](const Config& a, const Config& b) { return get(a) == get(b); };
  o.copy = [get](const Config& from, Config& to) { get(to) = get(from); };
  return o;
}

template <typename Get>
ConfigOption boolean(std::string_view key, Get get, bool fallback, Mutability m) {
  return row(key, ConfigType::kBool, get, fallback, m,
             [](ConfigReader& r, const YAML::Node& n) { return r.boolean(n); });
}

template <typename Get>
ConfigOption count(std::string_view key, Get get, Field<Get> fallback, std::uint64_t min,
                   std::uint64_t max, Mutability m) {
  auto o = row(key, ConfigType::kCount, get, fallback, m,
               [min, max](ConfigReader& r, const YAML::Node& n) { return r.count(n, min, max); });
  o.bounds = ConfigBounds{min, max};
  return o;
}

// Whole bounds, as every decimal row has, so tests can step just past them.
template <typename Get>
ConfigOption decimal(std::string_view key, Get get, double fallback, std::uint64_t min,
                     std::uint64_t max, Mutability m) {
  auto o = row(key, ConfigType::kDecimal, get, fallback, m,
               [min, max](ConfigReader& r, const YAML::Node& n) {
                 return r.decimal(n, static_cast<double>(min), static_cast<double>(max));
               });
  o.bounds = ConfigBounds{min, max};
  return o;
}

template <typename Get>
ConfigOption size(std::string_view key, Get get, std::size_t fallback, std::uint64_t min,
                  std::uint64_t max, Mutability m) {
  auto o = row(key, ConfigType::kSize, get, fallback, m,
               [min, max](ConfigReader& r, const YAML::Node& n) { return r.size(n, min, max); });
  o.bounds = ConfigBounds{min, max};
  return o;
}

template <typename Get>
ConfigOption duration(std::string_view key, Get get, Millis fallback, Millis min, Millis max,
                      Mutability m) {
  auto o =
      row(key, ConfigType::kDuration, get, fallback, m,
          [min, max](ConfigReader& r, const YAML::Node& n) { return r.duration(n, min, max); });
  o.bounds = ConfigBounds{static_cast<std::uint64_t>(min.count()),
                          static_cast<std::uint64_t>(max.count())};
  return o;
}

using ValueCheck = std::string (*)(const std::string&);

// `check` (null: any string) returns the whole problem message.
template <typename Get>
ConfigOption string(std::string_view key, Get get, const char* fallback, ValueCheck check,
                    Mutability m) {
  return row(key, ConfigType::kString, get, fallback, m,
             [check](ConfigReader& r, const YAML::Node& n) -> std::optional<std::string> {
               auto v = r.string(n);
               if (!v || !check) return v;
               if (auto error = check(*v); !error.empty()) {
                 r.problem(n, error);
                 return std::nullopt;
               }
               return v;
             });
}

template <typename Get>
ConfigOption choice(std::string_view key, Get get, const char* fallback,
                    const std::vector<std::string_view>& allowed, Mutability m) {
  auto o = row(key, ConfigType::kChoice, get, fallback, m,
               [allowed](ConfigReader& r, const YAML::Node& n) { return r.choice(n, allowed); });
  o.choices = allowed;
  return o;
}

// `check` (null: any string) returns the reason an item is refused.
template <typename Get>
ConfigOption strings(std::string_view key, Get get, std::vector<std::string> fallback,
                     ValueCheck check, Mutability m) {
  return row(key, ConfigType::kStrings, get, std::move(fallback), m,
             [check](ConfigReader& r, const YAML::Node& n) { return r.strings(n, check); });
}

template <typename Get>
ConfigOption ids(std::string_view key, Get get, Mutability m) {
  return row(key, ConfigType::kIds, get, {}, m,
             [](ConfigReader& r, const YAML::Node& n) { return r.ids(n); });
}

template <typename Get>
ConfigOption file_mode(std::string_view key, Get get, unsigned fallback, Mutability m) {
  return row(key, ConfigType::kFileMode, get, fallback, m,
             [](ConfigReader& r, const YAML::Node& n) { return r.file_mode(n); });
}

// A list of mappings read by `parse`; empty by default.
template <typename Get>
ConfigOption records(std::string_view key, Get get,
                     std::optional<Field<Get>> (*parse)(ConfigReader&, const YAML::Node&),
                     Mutability m) {
  return row(key, ConfigType::kRecords, get, {}, m, parse);
}

// The key is the file's path (`get`); its content goes to `content`. Both default to "".
template <typename Get, typename GetContent>
ConfigOption secret_file(std::string_view key, Get get, GetContent content, Mutability m) {
  auto both = [get, content](auto& c) { return std::tie(get(c), content(c)); };
  ConfigOption o;
  o.key = key;
  o.type = ConfigType::kSecretFile;
  o.mutability = m;
  o.set_default = [both](Config& c) { both(c) = std::tuple("", ""); };
  o.read = [both](ConfigReader& r, const YAML::Node& n, Config& c) {
    if (auto f = r.file(n)) both(c) = std::tie(f->path, f->content);
  };
  o.same = [both](const Config& a, const Config& b) { return both(a) == both(b); };
  o.copy = [both](const Config& from, Config& to) { both(to) = both(from); };
  return o;
}

// A file read at load time whose content a layer above checks (a certificate, a key): the row
// keeps where the config names it, so that layer reports its problems on that line.
template <typename Get>
ConfigOption checked_file(std::string_view key, Get get, Mutability m) {
  return row(key, ConfigType::kSecretFile, get, ConfigFile{}, m,
             [](ConfigReader& r, const YAML::Node& n) -> std::optional<ConfigFile> {
               auto f = r.file(n);
               if (!f) return std::nullopt;
               return ConfigFile{std::move(f->path), std::move(f->content), n.Mark().line + 1,
                                 n.Mark().column + 1};
             });
}

constexpr std::uint64_t kUnbounded = 0xffffffffu;
constexpr std::uint64_t kGiB = 1ULL << 30;

std::vector<ConfigOption> make_options() {
  using namespace std::chrono_literals;
  constexpr auto kReload = Mutability::kReload;
  constexpr auto kRestart = Mutability::kRestart;

// A row's key is the path of its field in Config, spelled once: FIELD(limits.max_event_bytes)
// is the key "limits.max_event_bytes" and the accessor of c.limits.max_event_bytes.
#define MEMBER(path) ([](auto& c) -> auto& { return c.path; })
#define FIELD(path) #path, MEMBER(path)

  // Columns: key and field, default, then min and max where bounded, then mutability. The
  // order is the one in which the loader lists a section's keys.
  std::vector<ConfigOption> rows = {
      string(FIELD(listen.sse), "127.0.0.1:7700", address_error, kRestart),
      string(FIELD(listen.admin), "127.0.0.1:7701", address_error, kRestart),
      string(FIELD(listen.sse_tls), "", optional_address_error, kRestart),
      count(FIELD(listen.backlog), 4096, 1, 65535, kRestart),

      checked_file(FIELD(tls.certificate_file), kReload),
      checked_file(FIELD(tls.key_file), kReload),

      count(FIELD(workers), 0, 0, 256, kRestart),

      string(FIELD(publish.socket), "/run/sse-sidecar/publish.sock", nullptr, kRestart),
      file_mode(FIELD(publish.socket_mode), 0660, kRestart),
      string(FIELD(publish.socket_group), "", nullptr, kRestart),
      ids(FIELD(publish.allowed_uids), kReload),
      ids(FIELD(publish.allowed_gids), kReload),
      strings(FIELD(publish.socket_topics), {}, pattern_error, kReload),
      records(FIELD(publish.tokens), read_publisher_tokens, kReload),
      secret_file(FIELD(publish.hmac_secret_file), MEMBER(publish.hmac_secret), kReload),
      duration(FIELD(publish.hmac_window), 5min, 1s, 1h, kReload),
      strings(FIELD(publish.hmac_topics), {}, pattern_error, kReload),
      decimal(FIELD(publish.rate), 0, 0, 1'000'000'000, kReload),
      count(FIELD(publish.burst), 1000, 1, kUnbounded, kReload),
      size(FIELD(publish.max_line_bytes), 1 * MiB, 1024, kGiB, kReload),
      size(FIELD(publish.reply_buffer_bytes), 256 * KiB, 4096, kGiB, kReload),
      size(FIELD(publish.engine_buffer_bytes), 1 * MiB, 4096, kGiB, kReload),
      duration(FIELD(publish.reply_stall_timeout), 5s, 100ms, 10min, kReload),
      choice(FIELD(publish.socket_replies), "all", {"all", "errors", "none"}, kReload),

      count(FIELD(limits.max_connections), 10000, 1, kUnbounded, kReload),
      count(FIELD(limits.max_topics_per_stream), 32, 1, 1024, kReload),
      size(FIELD(limits.max_event_bytes), 64 * KiB, 64, 64 * MiB, kReload),
      size(FIELD(limits.max_request_header_bytes), 8 * KiB, 1024, 1 * MiB, kReload),
      duration(FIELD(limits.request_timeout), 10s, 100ms, 10min, kReload),
      size(FIELD(limits.subscriber_buffer_bytes), 1 * MiB, 4096, kGiB, kReload),
      size(FIELD(limits.worker_queue_bytes), 64 * MiB, 64 * KiB, 16 * kGiB, kReload),
      count(FIELD(limits.max_connections_per_ip), 0, 0, kUnbounded, kReload),
      count(FIELD(limits.max_connections_per_subject), 0, 0, kUnbounded, kReload),
      decimal(FIELD(limits.connect_rate_per_ip), 0, 0, 1'000'000, kReload),
      count(FIELD(limits.connect_burst_per_ip), 20, 1, kUnbounded, kReload),
      count(FIELD(limits.h2_max_streams), 100, 1, 10'000, kReload),

      count(FIELD(history.max_events), 1000, 0, 10'000'000, kReload),
      size(FIELD(history.max_bytes), 4 * MiB, 0, 64 * kGiB, kReload),
      duration(FIELD(history.max_age), 10min, 1s, 7 * 24h, kReload),
      size(FIELD(history.max_total_bytes), 256 * MiB, 0, 1024 * kGiB, kReload),
      count(FIELD(history.max_topics), 100000, 1, 100'000'000, kReload),

      duration(FIELD(stream.heartbeat_interval), 15s, 100ms, 1h, kReload),
      duration(FIELD(stream.retry), 3s, 0ms, 1h, kReload),
      boolean(FIELD(stream.allow_patterns), true, kReload),
      duration(FIELD(stream.max_duration), 0ms, 0ms, 7 * 24h, kReload),

      strings(FIELD(access.public_topics), {}, pattern_error, kReload),
      string(FIELD(access.cookie), "", nullptr, kReload),
      records(FIELD(access.tokens), read_subscriber_tokens, kReload),
      records(FIELD(access.jwt.keys), read_jwt_keys, kReload),
      string(FIELD(access.jwt.issuer), "", nullptr, kReload),
      string(FIELD(access.jwt.audience), "", nullptr, kReload),
      duration(FIELD(access.jwt.leeway), 30s, 0ms, 1h, kReload),
      string(FIELD(access.jwt.topics_claim), "topics", nullptr, kReload),
      boolean(FIELD(access.jwt.require_exp), true, kReload),
      secret_file(FIELD(access.signed_urls.secret_file), MEMBER(access.signed_urls.secret),
                  kReload),
      duration(FIELD(access.signed_urls.max_lifetime), 24h, 1s, 366 * 24h, kReload),
      string(FIELD(access.delegate.url), "", nullptr, kReload),
      strings(FIELD(access.delegate.forward_headers), {"Cookie", "Authorization"}, nullptr,
              kReload),
      duration(FIELD(access.delegate.timeout), 2s, 10ms, 1min, kReload),
      count(FIELD(access.delegate.max_concurrent), 64, 1, 100'000, kReload),
      duration(FIELD(access.delegate.cache_ttl), 30s, 0ms, 1h, kReload),

      strings(FIELD(cors.allow_origins), {}, origin_error, kReload),
      boolean(FIELD(cors.allow_credentials), false, kReload),
      boolean(FIELD(cors.allow_no_origin), true, kReload),
      duration(FIELD(cors.max_age), 10min, 0ms, 24h, kReload),

      choice(FIELD(log.level), "info", {"trace", "debug", "info", "warn", "error", "off"}, kReload),
      choice(FIELD(log.format), "text", {"text", "json"}, kReload),
      boolean(FIELD(log.access), true, kReload),

      records(FIELD(presence.rules), read_presence_rules, kReload),
      string(FIELD(presence.webhook.url), "", nullptr, kReload),
      secret_file(FIELD(presence.webhook.secret_file), MEMBER(presence.webhook.secret), kReload),
      duration(FIELD(presence.webhook.timeout), 5s, 10ms, 1min, kReload),
      duration(FIELD(presence.webhook.batch_delay), 100ms, 0ms, 1min, kReload),
      count(FIELD(presence.webhook.max_batch), 500, 1, 100'000, kReload),
      count(FIELD(presence.webhook.max_retries), 8, 0, 1000, kReload),
      duration(FIELD(presence.webhook.max_backoff), 30s, 100ms, 1h, kReload),
      count(FIELD(presence.webhook.max_queue), 100'000, 1, 100'000'000, kReload),

      choice(FIELD(engine.type), "memory", {"memory", "redis"}, kRestart),
      string(FIELD(engine.redis.address), "127.0.0.1:6379", redis_address_error, kRestart),
      string(FIELD(engine.redis.username), "", nullptr, kRestart),
      secret_file(FIELD(engine.redis.password_file), MEMBER(engine.redis.password), kRestart),
      string(FIELD(engine.redis.key_prefix), "sse:", nullptr, kRestart),
      strings(FIELD(engine.redis.sentinels), {}, redis_address_error, kRestart),
      string(FIELD(engine.redis.master_name), "mymaster", nullptr, kRestart),
      duration(FIELD(engine.redis.connect_timeout), 2s, 10ms, 1min, kRestart),
      duration(FIELD(engine.redis.command_timeout), 2s, 10ms, 1min, kRestart),
      duration(FIELD(engine.redis.reconnect_backoff), 100ms, 10ms, 1min, kRestart),
      duration(FIELD(engine.redis.max_reconnect_backoff), 5s, 10ms, 10min, kRestart),

      duration(FIELD(drain_timeout), 5s, 0ms, 10min, kReload),
      string(FIELD(state_file), "", nullptr, kReload),
  };

#undef FIELD
#undef MEMBER
  return rows;
}

}  // namespace

const std::vector<ConfigOption>& config_options() {
  static const std::vector<ConfigOption> options = make_options();
  return options;
}

const ConfigOption* find_config_option(std::string_view key) {
  const auto& options = config_options();
  auto it = std::find_if(options.begin(), options.end(),
                         [key](const ConfigOption& o) { return o.key == key; });
  return it == options.end() ? nullptr : &*it;
}

const std::vector<ConfigSectionRule>& config_section_rules() {
  static const std::vector<ConfigSectionRule> rules = {
      // The whole file: a TLS listener needs its certificate and key, wherever they are set.
      {"",
       [](ConfigReader& r, const YAML::Node& n, const Config& c) {
         if (c.listen.sse_tls.empty() || r.reported("listen.sse_tls")) return;
         std::vector<std::string> missing;
         if (c.tls.certificate_file.path.empty() && !r.reported("tls.certificate_file")) {
           missing.emplace_back("'tls.certificate_file' (the PEM certificate chain, leaf first)");
         }
         if (c.tls.key_file.path.empty() && !r.reported("tls.key_file")) {
           missing.emplace_back("'tls.key_file' (its PEM private key)");
         }
         if (missing.empty()) return;
         std::string list = missing[0];
         if (missing.size() == 2) list += " and " + missing[1];
         r.problem(n["listen"]["sse_tls"], "'listen.sse_tls' is set: it needs " + list);
       }},
      {"access.delegate",
       [](ConfigReader& r, const YAML::Node& n, const Config& c) {
         const auto& url = c.access.delegate.url;
         if (!url.empty() && !is_http_url(url)) {
           r.problem(n, "'access.delegate.url' must be an http:// or https:// URL");
         }
       }},
      {"presence.webhook",
       [](ConfigReader& r, const YAML::Node& n, const Config& c) {
         const auto& url = c.presence.webhook.url;
         if (!url.empty() && !is_http_url(url)) {
           r.problem(n, "'presence.webhook.url' must be an http:// or https:// URL");
         }
       }},
      {"presence",
       [](ConfigReader& r, const YAML::Node& n, const Config& c) {
         const auto& p = c.presence;
         bool wants_webhook = std::any_of(p.rules.begin(), p.rules.end(),
                                          [](const PresenceRule& rule) { return rule.webhook; });
         if (wants_webhook && p.webhook.url.empty() && !r.reported("presence.webhook.url")) {
           r.problem(n,
                     "'presence.rules' report to the webhook but 'presence.webhook.url' is not "
                     "set");
         }
       }},
  };
  return rules;
}

void apply_config_defaults(Config& config) {
  for (const auto& o : config_options()) o.set_default(config);
}

std::vector<std::string> keep_restart_only_options(const Config& running, Config& next) {
  std::vector<std::string> warnings;
  for (const auto& o : config_options()) {
    if (o.mutability != Mutability::kRestart || o.same(running, next)) continue;
    warnings.push_back("'" + std::string(o.key) + "' changed; it takes effect after a restart");
    o.copy(running, next);
  }
  return warnings;
}

}  // namespace sidecar
