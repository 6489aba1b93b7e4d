// The Prometheus text exposition format (version 0.0.4): a family's HELP and TYPE lines, and
// one sample line. Every part of the daemon that renders metrics writes them with these.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

namespace sidecar {

inline void append_metric_family(std::string& out, std::string_view name, std::string_view type,
                                 std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

inline void append_metric_sample(std::string& out, std::string_view name, std::uint64_t value,
                                 std::string_view labels = {}) {
  out.append(name);
  if (!labels.empty()) out.append("{").append(labels).append("}");
  out.append(" ").append(std::to_string(value)).append("\n");
}

// A sample of a real value (seconds with their fraction), in the shortest decimal form that
// reads back as the same double. Fixed notation, never an exponent, so that a whole number
// reads exactly like an integer sample.
inline void append_metric_sample_real(std::string& out, std::string_view name, double value,
                                      std::string_view labels = {}) {
  out.append(name);
  if (!labels.empty()) out.append("{").append(labels).append("}");
  out.append(" ");
  if (std::isnan(value)) {
    out.append("NaN");
  } else if (std::isinf(value)) {
    out.append(value > 0 ? "+Inf" : "-Inf");
  } else {
    char digits[512];  // the longest fixed form of a double (1.8e308) is 309 digits
    auto [end, ec] =
        std::to_chars(digits, digits + sizeof(digits), value, std::chars_format::fixed);
    out.append(digits, ec == std::errc() ? end : digits);
  }
  out.append("\n");
}

}  // namespace sidecar
