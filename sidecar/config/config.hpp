// Typed configuration. Parsed and validated once (config_loader.hpp); the rest of the daemon
// receives `const Config&` (or a shared_ptr to one) and never sees YAML.
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
  int backlog = 4096;                    // listen(2) backlog of both listeners
};

struct PublishConfig {
  std::string socket = "/run/sse-sidecar/publish.sock";  // NDJSON publish socket; "" disables
  unsigned socket_mode = 0660;                           // file mode of the socket
  std::vector<std::string> tokens;                       // bearer tokens for HTTP publishing
  std::size_t max_line_bytes = 1 * MiB;                  // longest accepted NDJSON line
  std::size_t reply_buffer_bytes = 256 * KiB;            // unread replies before reading pauses
};

struct LimitsConfig {
  std::size_t max_connections = 10000;  // open streams over all workers
  std::size_t max_topics_per_stream = 32;
  std::size_t max_event_bytes = 64 * KiB;          // encoded size of one event
  std::size_t max_request_header_bytes = 8 * KiB;  // request line plus headers of GET /events
  Millis request_timeout{10000};                   // deadline to receive request headers
  std::size_t subscriber_buffer_bytes = 1 * MiB;   // unsent bytes per stream before disconnect
};

struct HistoryConfig {
  std::size_t max_events = 1000;    // per topic; 0 keeps no history
  std::size_t max_bytes = 4 * MiB;  // per topic
  Millis max_age{10 * 60 * 1000};
};

struct StreamConfig {
  Millis heartbeat_interval{15000};
  Millis retry{3000};          // reconnect delay suggested to clients (`retry:`)
  bool allow_patterns = true;  // whether `topic=prefix.*` subscriptions are accepted
};

struct AccessConfig {
  std::vector<std::string> public_topics;  // topic patterns readable without credentials
};

struct CorsConfig {
  std::vector<std::string> allow_origins;  // exact origins, or "*" for any (never with credentials)
};

struct LogConfig {
  std::string level = "info";   // trace, debug, info, warn, error, off
  std::string format = "text";  // text or json
};

struct Config {
  std::string source;  // file the config came from, for messages
  ListenConfig listen;
  unsigned workers = 0;  // stream event loops; 0 = one per CPU core
  PublishConfig publish;
  LimitsConfig limits;
  HistoryConfig history;
  StreamConfig stream;
  AccessConfig access;
  CorsConfig cors;
  LogConfig log;
  Millis drain_timeout{5000};
};

}  // namespace sidecar
