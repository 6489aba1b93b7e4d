// The subcommands of sse-loadgen. Each takes the arguments after its name and returns the
// process exit status: 0 success, 1 the run showed failures, 2 bad arguments.
#pragma once

#include <span>

namespace loadgen {

int subscribe_command(std::span<char* const> args);
int publish_command(std::span<char* const> args);

}  // namespace loadgen
