// The command line of `sse-sidecar publish`, and the NDJSON line it makes of one event given
// there. Pure: nothing is read or connected here.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sidecar {

struct PublishOptions {
  enum class Data { kNone, kText, kFile, kJson };

  // Topics of the one event to publish; empty: NDJSON lines are read from standard input.
  std::vector<std::string> topics;
  std::optional<std::string> event;
  Data data_kind = Data::kNone;
  std::string data;  // kText: the text; kFile: the path ("-" for standard input); kJson: JSON
  std::optional<std::uint32_t> retry;
  std::optional<std::string> idempotency_key;
  std::string socket;  // empty: publish.socket of the configuration
  std::string config_path;
  bool quiet = false;
  bool help = false;
  // A sidecar that sends no reply for this long while lines await theirs (stopped, or stuck)
  // ends the command as a lost connection: a cron job never hangs on it.
  std::chrono::milliseconds reply_timeout{30000};
};

struct PublishArgs {
  std::optional<PublishOptions> options;  // unset with `error` on a usage error
  std::string error;                      // one line: what is wrong and what to do instead
};

// `args` are the words after "publish"; `default_config` is the daemon's default config path.
PublishArgs parse_publish_args(const std::vector<std::string_view>& args,
                               std::string_view default_config);

std::string publish_usage(std::string_view default_config);

// The NDJSON line (no LF) of the one event of `options`, its data given as `data` (the text, the
// file's content, or the JSON text of --json), written with the JSON writer so that anything is
// quoted right. Unset with `error` when --json's value is not one JSON value.
std::optional<std::string> event_line(const PublishOptions& options, std::string_view data,
                                      std::string& error);

}  // namespace sidecar
