#include "sidecar/core/units.hpp"

#include <charconv>
#include <limits>

namespace sidecar {

std::optional<std::uint64_t> parse_uint(std::string_view text) {
  std::uint64_t value = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end) return std::nullopt;
  return value;
}

namespace {

// Splits "123unit" into its number and unit; nullopt when there is no leading number.
std::optional<std::pair<std::uint64_t, std::string_view>> split_number(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  auto number = parse_uint(text.substr(0, digits));
  if (!number) return std::nullopt;
  return std::pair{*number, text.substr(digits)};
}

std::optional<std::uint64_t> checked_multiply(std::uint64_t value, std::uint64_t factor) {
  if (value > std::numeric_limits<std::uint64_t>::max() / factor) return std::nullopt;
  return value * factor;
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  auto parts = split_number(text);
  if (!parts) return std::nullopt;
  auto [number, unit] = *parts;
  std::uint64_t factor = 0;
  if (unit == "ms")
    factor = 1;
  else if (unit == "s")
    factor = 1000;
  else if (unit == "m")
    factor = 60ULL * 1000;
  else if (unit == "h")
    factor = 60ULL * 60 * 1000;
  else
    return std::nullopt;
  auto ms = checked_multiply(number, factor);
  if (!ms || *ms > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return std::nullopt;
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(*ms));
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  auto parts = split_number(text);
  if (!parts) return std::nullopt;
  auto [number, unit] = *parts;
  if (unit.empty() || unit == "B") return number;
  if (unit == "KiB") return checked_multiply(number, 1ULL << 10);
  if (unit == "MiB") return checked_multiply(number, 1ULL << 20);
  if (unit == "GiB") return checked_multiply(number, 1ULL << 30);
  return std::nullopt;
}

}  // namespace sidecar
