// The Prometheus text exposition format (version 0.0.4): a family's HELP and TYPE lines, and
// one sample line. Every part of the daemon that renders metrics writes them with these.
#pragma once

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

}  // namespace sidecar
