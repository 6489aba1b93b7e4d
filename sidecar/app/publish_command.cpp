#include "sidecar/app/publish_command.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

#include "sidecar/app/publish_options.hpp"
#include "sidecar/app/publish_pipeline.hpp"
#include "sidecar/config/config_loader.hpp"
#include "sidecar/net/unix_client.hpp"

namespace sidecar {
namespace {

// No event can hold more (the bound of limits.max_event_bytes): a larger file is refused here
// rather than read into memory whole.
constexpr std::size_t kMaxData = 64 * MiB;
constexpr std::chrono::seconds kConnectTimeout{10};

void say(const std::string& text) {
  std::fprintf(stderr, "sse-sidecar publish: %s\n", text.c_str());
}

int usage_error(const std::string& error) {
  say(error);
  std::fputs("Try 'sse-sidecar publish --help'.\n", stderr);
  return 2;
}

std::string lines(std::uint64_t n) {
  return std::to_string(n) + (n == 1 ? " line" : " lines");
}

// The content of `path` ("-": standard input), up to kMaxData bytes.
std::optional<std::string> read_data(const std::string& path, std::string& error) {
  UniqueFd file;
  int fd = 0;
  if (path != "-") {
    file.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!file) {
      error = "--data-file: cannot open " + path + ": " + std::strerror(errno);
      return std::nullopt;
    }
    fd = file.get();
  }
  std::string name = path == "-" ? "standard input" : path;
  std::string data;
  char buf[64 * KiB];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = "--data-file: cannot read " + name + ": " + std::strerror(errno);
      return std::nullopt;
    }
    if (n == 0) return data;
    data.append(buf, static_cast<std::size_t>(n));
    if (data.size() > kMaxData) {
      error = "--data-file: " + name +
              " holds more than 64 MiB, more than any event may (limits.max_event_bytes is at "
              "most 64 MiB)";
      return std::nullopt;
    }
  }
}

// The socket to connect to: --socket, else publish.socket of the configuration, read by the
// daemon's own loader so that it means what it means to the daemon.
std::optional<std::string> socket_path(const PublishOptions& o) {
  if (!o.socket.empty()) return o.socket;
  ConfigLoad load = load_config_file(o.config_path);
  if (!load.config) {
    for (const auto& problem : load.problems)
      std::fprintf(stderr, "%s\n", problem.to_string().c_str());
    say("cannot take publish.socket from " + o.config_path +
        ": pass --socket PATH (or --config FILE, the sidecar's configuration)");
    return std::nullopt;
  }
  if (load.config->publish.socket.empty()) {
    say(o.config_path +
        " turns the publish socket off (publish.socket is empty): pass --socket PATH");
    return std::nullopt;
  }
  return load.config->publish.socket;
}

int report(const PublishPipeline::Outcome& r, const std::string& path, bool one_event) {
  using End = PublishPipeline::End;
  if (r.end == End::kProtocol) {
    say(path + " sent a line that is no reply of the sidecar's (is it its publish socket?): " +
        r.protocol_line.substr(0, 200));
    return 2;
  }
  if (r.end == End::kLost) {
    // Ended by the sidecar, or given up by --reply-timeout: the same lines are owed.
    std::string ended = r.timed_out ? "gave up on " + path : "the connection to " + path + " ended";
    if (r.refused) {
      say("the sidecar refused the connection (its reason above): nothing was published");
    } else if (one_event) {
      say(ended +
          " before the event was answered: it may or may not have been published (with "
          "--idempotency-key a resend is harmless)");
    } else if (r.unanswered > 0) {
      say(ended + " with " + lines(r.unanswered) +
          " unanswered: a line without a reply may or may not have been published; resend from "
          "input line " +
          std::to_string(r.resend_from) + " (with idempotency keys a resend is harmless)");
    } else {
      say(ended +
          " before all input was sent (every line sent was answered): resend from input "
          "line " +
          std::to_string(r.resend_from));
    }
    return 2;
  }
  if (!r.input_error.empty()) {
    say("cannot read standard input: " + r.input_error + " (the lines read before were sent)");
    return 2;
  }
  return r.counts.refused > 0 ? 1 : 0;
}

}  // namespace

int publish_command(const std::vector<std::string_view>& args, std::string_view default_config) {
  PublishArgs parsed = parse_publish_args(args, default_config);
  if (!parsed.options) return usage_error(parsed.error);
  const PublishOptions& o = *parsed.options;
  if (o.help) {
    std::fputs(publish_usage(default_config).c_str(), stdout);
    return 0;
  }
  // A reader of the output that leaves (`| head -1`) must surface as EPIPE, not end the
  // publishing half way.
  std::signal(SIGPIPE, SIG_IGN);

  // The one event's line is made, and --json checked, before anything is connected.
  std::string error;
  std::optional<std::string> line;
  bool one_event = !o.topics.empty();
  if (one_event) {
    std::optional<std::string> file_data;
    if (o.data_kind == PublishOptions::Data::kFile) {
      file_data = read_data(o.data, error);
      if (!file_data) return usage_error(error);
    }
    line = event_line(o, file_data ? *file_data : o.data, error);
    if (!line) return usage_error(error);
  }

  std::optional<std::string> path = socket_path(o);
  if (!path) return 2;
  UniqueFd socket = connect_unix(*path, kConnectTimeout, error);
  if (!socket) {
    say("cannot connect to " + *path + ": " + error);
    return 2;
  }
  if (!one_event && ::isatty(STDIN_FILENO)) {
    say("reading NDJSON lines from the terminal (Ctrl-D ends)");
  }
  PublishPipeline pipeline(
      {socket.get(), one_event ? -1 : STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO},
      {o.quiet, !one_event && !o.quiet, o.reply_timeout});
  if (line) pipeline.add_line(*line);
  return report(pipeline.run(), *path, one_event);
}

}  // namespace sidecar
