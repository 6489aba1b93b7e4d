// Command line entry point; everything else lives in Server.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "sidecar/app/logging.hpp"
#include "sidecar/app/publish_command.hpp"
#include "sidecar/app/server.hpp"
#include "sidecar/auth/access.hpp"
#include "sidecar/config/config_loader.hpp"
#include "sidecar/stream/tls_settings.hpp"

namespace {

constexpr const char* kDefaultConfig = "/etc/sse-sidecar/config.yaml";

void usage(std::FILE* out) {
  std::fprintf(out,
               "Usage: sse-sidecar [--config FILE]\n"
               "       sse-sidecar --check-config [FILE]\n"
               "       sse-sidecar publish [TOPIC] [OPTIONS]\n"
               "\n"
               "Streams events published on a Unix socket or over HTTP to browsers as\n"
               "Server-Sent Events.\n"
               "\n"
               "  -c, --config FILE     configuration file (default %s)\n"
               "      --check-config    validate the configuration, print problems as\n"
               "                        FILE:LINE:COL: message, exit 0 (valid) or 2\n"
               "  -v, --version         print the version\n"
               "  -h, --help            print this help\n"
               "\n"
               "  publish               publish to the running sidecar over its publish socket:\n"
               "                        one event, or NDJSON lines from standard input\n"
               "                        (sse-sidecar publish --help)\n"
               "\n"
               "Signals: SIGHUP reloads the configuration; SIGTERM or SIGINT drains and exits.\n",
               kDefaultConfig);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]) == "publish") {
    return sidecar::publish_command(std::vector<std::string_view>(argv + 2, argv + argc),
                                    kDefaultConfig);
  }
  std::string config_path = kDefaultConfig;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      usage(stdout);
      return 0;
    }
    if (arg == "-v" || arg == "--version") {
      std::printf("sse-sidecar %s\n", SIDECAR_VERSION);
      return 0;
    }
    if (arg == "--check-config") {
      check_only = true;
      if (i + 1 < argc && argv[i + 1][0] != '-') config_path = argv[++i];
    } else if ((arg == "-c" || arg == "--config") && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg.starts_with("--config=")) {
      config_path = arg.substr(9);
    } else {
      std::fprintf(stderr, "sse-sidecar: unknown argument '%s'\n\n", arg.c_str());
      usage(stderr);
      return 2;
    }
  }

  sidecar::ConfigLoad load = sidecar::load_config_file(config_path);
  std::vector<sidecar::ConfigProblem> warnings;
  if (load.config) {
    // Key files are read by the loader; whether they hold usable keys is checked here.
    load.problems = sidecar::access_config_problems(*load.config);
    auto tls = sidecar::check_tls_settings(*load.config);
    load.problems.insert(load.problems.end(), tls.problems.begin(), tls.problems.end());
    warnings = std::move(tls.warnings);
    if (!load.problems.empty()) load.config.reset();
  }
  for (const auto& problem : load.problems)
    std::fprintf(stderr, "%s\n", problem.to_string().c_str());
  for (auto& warning : warnings) {
    warning.message = "warning: " + warning.message;
    std::fprintf(stderr, "%s\n", warning.to_string().c_str());
  }
  if (!load.config) return 2;
  if (check_only) {
    std::printf("%s: configuration is valid\n", config_path.c_str());
    return 0;
  }

  // A client that disconnects mid-write must surface as EPIPE, not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  sidecar::configure_logging(load.config->log);
  sidecar::Server server(std::make_shared<const sidecar::Config>(std::move(*load.config)),
                         config_path);
  return server.run();
}
