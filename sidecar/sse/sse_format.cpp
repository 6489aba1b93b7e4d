#include "sidecar/sse/sse_format.hpp"

#include <cstdio>

namespace sidecar {

void append_sse_event(std::string& out, std::string_view id, std::string_view name,
                      std::string_view data, std::optional<std::uint32_t> retry) {
  out.append("id: ").append(id).push_back('\n');
  append_sse_fields(out, name, data, retry);
}

void append_sse_fields(std::string& out, std::string_view name, std::string_view data,
                       std::optional<std::uint32_t> retry) {
  if (!name.empty()) out.append("event: ").append(name).push_back('\n');
  if (retry) out.append("retry: ").append(std::to_string(*retry)).push_back('\n');
  // Each payload line becomes its own field so a CR or LF in the payload can only ever start a
  // new data line, never a new field. An empty payload still yields one `data:` line so the
  // browser dispatches the event (an event with no data line is silently skipped).
  std::size_t start = 0;
  while (true) {
    std::size_t end = data.find_first_of("\r\n", start);
    std::string_view line = data.substr(start, end == std::string_view::npos ? end : end - start);
    out.append(line.empty() ? "data:" : "data: ").append(line).push_back('\n');
    if (end == std::string_view::npos) break;
    start = end + ((data[end] == '\r' && end + 1 < data.size() && data[end + 1] == '\n') ? 2 : 1);
  }
  out.push_back('\n');
}

void append_chunk(std::string& out, std::string_view payload) {
  char header[24];
  int n = std::snprintf(header, sizeof(header), "%zx\r\n", payload.size());
  out.append(header, static_cast<std::size_t>(n)).append(payload).append("\r\n");
}

bool is_safe_field_value(std::string_view text) {
  return text.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

}  // namespace sidecar
