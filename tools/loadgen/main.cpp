// sse-loadgen: the benchmark's load generator. Dispatches to the subcommands.
#include <signal.h>

#include <cstdio>
#include <span>
#include <string_view>

#include "tools/loadgen/commands.hpp"

namespace {

constexpr const char* kUsage = R"(usage: sse-loadgen COMMAND [options]

Drives an SSE server (the sidecar, or Nchan for comparison) the same way for both.

commands:
  subscribe   open many SSE streams, measure delivery and latency of timestamped events
  publish     publish timestamped events to the sidecar's socket or to Nchan over HTTP

`sse-loadgen COMMAND --help` describes each command's options.
)";

}  // namespace

int main(int argc, char** argv) {
  // A peer closing a socket must show up as an error code, not kill the run.
  ::signal(SIGPIPE, SIG_IGN);
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  std::string_view command = argv[1];
  std::span<char* const> rest(argv + 2, static_cast<size_t>(argc - 2));
  if (command == "subscribe") return loadgen::subscribe_command(rest);
  if (command == "publish") return loadgen::publish_command(rest);
  if (command == "--help" || command == "-h" || command == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  std::fprintf(stderr, "sse-loadgen: unknown command '%s'\n\n%s", argv[1], kUsage);
  return 2;
}
