// `sse-sidecar publish`: publishes to a running sidecar over its publish socket, for shell
// scripts, cron jobs and operators. One event given on the command line, or every NDJSON line of
// standard input; each reply line is printed as the sidecar sent it. It never starts a sidecar.
#pragma once

#include <string_view>
#include <vector>

namespace sidecar {

// `args` are the words after "publish"; `default_config` is the daemon's default config path,
// where publish.socket is looked up unless --socket names the socket. Returns the exit status:
// 0 every event accepted, 1 some refused, 2 a usage error, no connection, or the connection
// lost before every line was answered.
int publish_command(const std::vector<std::string_view>& args, std::string_view default_config);

}  // namespace sidecar
