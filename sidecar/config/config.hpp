// Typed configuration. Parsed and validated once (config_loader.hpp); the rest of the daemon
// receives `const Config&` (or a shared_ptr to one) and never sees YAML. Each key's default,
// bounds and reload behaviour are its row in config_schema.cpp; the initialisers here give
// code that builds a Config directly the same defaults (a unit test holds them equal).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sidecar {

using Millis = std::chrono::milliseconds;

inline constexpr std::size_t KiB = 1024;
inline constexpr std::size_t MiB = 1024 * KiB;

struct ListenConfig {
  std::string sse = "127.0.0.1:7700";    // public listener: GET /events
  std::string admin = "127.0.0.1:7701";  // publish over HTTP, health, metrics
  std::string sse_tls;                   // the same streams over TLS; "" = off
  int backlog = 4096;                    // listen(2) backlog of both listeners
};

// A credential for HTTP publishing, optionally limited to some topics.
struct PublisherToken {
  std::string token;                // plain, or "sha256:<hex>" of the token
  std::string name;                 // for logs and rate limits; never the token
  std::vector<std::string> topics;  // patterns it may publish to; empty = any

  bool operator==(const PublisherToken&) const = default;
};

struct PublishConfig {
  std::string socket = "/run/sse-sidecar/publish.sock";  // NDJSON publish socket; "" disables
  unsigned socket_mode = 0660;                           // file mode of the socket
  std::string socket_group;                 // group owning the socket; "" = the process's
  std::vector<std::uint32_t> allowed_uids;  // peer uids allowed (SO_PEERCRED); empty = any
  std::vector<std::uint32_t> allowed_gids;  // peer gids allowed; empty = any
  std::vector<std::string> socket_topics;   // patterns socket publishers may use; empty = any
  std::vector<PublisherToken> tokens;       // bearer tokens for HTTP publishing
  std::string hmac_secret;                  // loaded from hmac_secret_file; "" disables
  std::string hmac_secret_file;
  Millis hmac_window{300000};                  // accepted clock difference of signed requests
  std::vector<std::string> hmac_topics;        // patterns signed requests may use; empty = any
  double rate = 0;                             // events/s per publisher; 0 = unlimited
  std::size_t burst = 1000;                    // events a publisher may send at once
  std::size_t max_line_bytes = 1 * MiB;        // longest accepted NDJSON line
  std::size_t reply_buffer_bytes = 256 * KiB;  // unread replies before reading pauses
  std::size_t engine_buffer_bytes = 1 * MiB;   // awaited engine answers before reading pauses
  Millis reply_stall_timeout{5000};            // paused without a reply read for this long: closed
  std::string socket_replies = "all";  // all, errors or none: replies unless a line says else
};

struct LimitsConfig {
  std::size_t max_connections = 10000;  // open streams over all workers
  std::size_t max_topics_per_stream = 32;
  std::size_t max_event_bytes = 64 * KiB;          // encoded size of one event
  std::size_t max_request_header_bytes = 8 * KiB;  // request line plus headers of GET /events
  Millis request_timeout{10000};                   // deadline to receive request headers
  std::size_t subscriber_buffer_bytes = 1 * MiB;   // unsent bytes per stream before disconnect
  std::size_t worker_queue_bytes = 64 * MiB;       // events handed to a worker, not yet taken
  std::size_t max_connections_per_ip = 0;          // 0 = unlimited
  std::size_t max_connections_per_subject = 0;     // 0 = unlimited
  double connect_rate_per_ip = 0;                  // new connections/s per IP; 0 = unlimited
  std::size_t connect_burst_per_ip = 20;
  // Streams one HTTP/2 connection may hold open at once (SETTINGS_MAX_CONCURRENT_STREAMS).
  std::size_t h2_max_streams = 100;
};

struct HistoryConfig {
  std::size_t max_events = 1000;    // per topic; 0 keeps no history
  std::size_t max_bytes = 4 * MiB;  // per topic
  Millis max_age{10 * 60 * 1000};
  // Over every topic: the memory history may hold, as it really costs (events, frames, the
  // topic index), and the topics it tracks. Past either, the oldest goes first.
  std::size_t max_total_bytes = 256 * MiB;
  std::size_t max_topics = 100000;
};

struct StreamConfig {
  Millis heartbeat_interval{15000};
  Millis retry{3000};          // reconnect delay suggested to clients (`retry:`)
  bool allow_patterns = true;  // whether `topic=prefix.*` subscriptions are accepted
  Millis max_duration{0};      // streams end after this long (clients resume); 0 = never
};

// A static subscriber token and what it grants.
struct SubscriberToken {
  std::string token;  // plain, or "sha256:<hex>" of the token
  std::string subject;
  std::vector<std::string> topics;  // patterns it may read

  bool operator==(const SubscriberToken&) const = default;
};

struct JwtKeyConfig {
  std::string algorithm;  // HS256, HS384, HS512, RS256, ES256
  std::string kid;
  std::string file;      // HS*: the secret; RS256/ES256: PEM public key or certificate
  std::string material;  // the file's content, read when the config is loaded
  // Where the config names the file (1-based; 0 when unknown): whether it holds a usable key is
  // checked above this layer, and reported there.
  int file_line = 0;
  int file_column = 0;

  bool operator==(const JwtKeyConfig&) const = default;
};

struct JwtConfig {
  std::vector<JwtKeyConfig> keys;  // JWT is enabled when at least one key is configured
  std::string issuer;
  std::string audience;
  Millis leeway{30000};
  std::string topics_claim = "topics";
  bool require_exp = true;
};

struct SignedUrlConfig {
  std::string secret_file;                  // enables signed stream URLs
  std::string secret;                       // the file's content
  Millis max_lifetime{24LL * 3600 * 1000};  // URLs expiring further ahead are refused
};

struct DelegateConfig {
  std::string url;  // app endpoint asked about stream requests; "" disables delegation
  std::vector<std::string> forward_headers{"Cookie", "Authorization"};
  Millis timeout{2000};
  std::size_t max_concurrent = 64;  // calls in flight per worker; beyond: 503
  Millis cache_ttl{30000};          // how long an answer is reused for identical requests
};

struct AccessConfig {
  std::vector<std::string> public_topics;  // topic patterns readable without credentials
  std::string cookie;                      // cookie whose value is a token; "" = none
  std::vector<SubscriberToken> tokens;
  JwtConfig jwt;
  SignedUrlConfig signed_urls;
  DelegateConfig delegate;
};

struct CorsConfig {
  // Exact origins, wildcard subdomains ("https://*.example.com"), or "*" for any (then
  // answered with "*" and never with credentials).
  std::vector<std::string> allow_origins;
  bool allow_credentials = false;  // Access-Control-Allow-Credentials for listed origins
  bool allow_no_origin = true;     // accept requests without Origin (non-browser clients)
  Millis max_age{600000};          // preflight cache time
};

// Which subscriptions are tracked for presence, and where their changes are reported.
struct PresenceRule {
  std::vector<std::string> topics;  // exact-topic subscriptions matching these are tracked
  std::string event_topic;          // "{topic}" is replaced by the topic; "" = no events
  bool webhook = false;             // also report the changes to presence.webhook.url

  bool operator==(const PresenceRule&) const = default;
};

struct PresenceWebhookConfig {
  std::string url;  // POSTed batches of changes; "" = none
  std::string secret_file;
  std::string secret;              // signs each batch (X-Sidecar-Signature); "" = unsigned
  Millis timeout{5000};            // per attempt
  Millis batch_delay{100};         // changes gathered before a batch leaves
  std::size_t max_batch = 500;     // changes per request
  std::size_t max_retries = 8;     // attempts after the first, with doubling backoff
  Millis max_backoff{30000};       // longest wait between attempts
  std::size_t max_queue = 100000;  // changes waiting; beyond, the oldest are dropped
};

struct PresenceConfig {
  std::vector<PresenceRule> rules;  // first matching rule wins; empty = presence off
  PresenceWebhookConfig webhook;
};

struct LogConfig {
  std::string level = "info";   // trace, debug, info, warn, error, off
  std::string format = "text";  // text or json
  bool access = true;           // one line per stream when it ends
};

// The Redis server the sidecars of one service share (engine.type: redis).
struct RedisConfig {
  std::string address = "127.0.0.1:6379";  // host:port, or unix:/path
  std::string username;                    // Redis 6 ACL user; "" = the default user
  std::string password;                    // loaded from password_file; "" = no AUTH
  std::string password_file;
  std::string key_prefix = "sse:";  // every key and channel; deployments sharing a Redis differ
  // With sentinels, the primary of `master_name` is found through them (and followed across
  // failovers) instead of `address`.
  std::vector<std::string> sentinels;  // host:port of each redis-sentinel
  std::string master_name = "mymaster";
  Millis connect_timeout{2000};
  Millis command_timeout{2000};   // a reply later than this counts the connection as lost
  Millis reconnect_backoff{100};  // first retry; doubles up to max_reconnect_backoff
  Millis max_reconnect_backoff{5000};
};

// Where ids come from and history lives: this process (memory) or a Redis shared by nodes.
struct EngineConfig {
  std::string type = "memory";  // memory | redis
  RedisConfig redis;
};

// A file named by the config and read when it is loaded, with where the config names it (1-based;
// 0 when not set), so that a layer above can report what is wrong with its content there.
struct ConfigFile {
  std::string path;  // "" = not set
  std::string content;
  int line = 0;
  int column = 0;

  // The same file with the same content, wherever the config names it.
  bool operator==(const ConfigFile& o) const { return path == o.path && content == o.content; }
};

// The certificate and key of listen.sse_tls (PEM). Reloaded on SIGHUP: new connections take the
// new pair, open ones keep the one they began with.
struct TlsConfig {
  ConfigFile certificate_file;  // the chain, leaf first
  ConfigFile key_file;          // the leaf's private key
};

struct Config {
  std::string source;  // file the config came from, for messages
  ListenConfig listen;
  TlsConfig tls;
  unsigned workers = 0;  // stream event loops; 0 = one per CPU core
  PublishConfig publish;
  LimitsConfig limits;
  HistoryConfig history;
  StreamConfig stream;
  AccessConfig access;
  CorsConfig cors;
  PresenceConfig presence;
  LogConfig log;
  EngineConfig engine;
  Millis drain_timeout{5000};
  std::string state_file;  // history and id sequence kept across restarts; "" = none
};

}  // namespace sidecar
