// Parsing of human-written quantities used in the config and on the command line.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace sidecar {

// "500ms", "15s", "10m", "1h" (a whole number and a unit). Anything else: nullopt.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// "1048576", "64KiB", "1MiB", "2GiB". Anything else: nullopt.
std::optional<std::uint64_t> parse_size(std::string_view text);

// Whole non-negative decimal number without sign or spaces; nullopt on overflow or junk.
std::optional<std::uint64_t> parse_uint(std::string_view text);

}  // namespace sidecar
