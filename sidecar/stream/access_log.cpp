#include "sidecar/stream/access_log.hpp"

#include <cstdio>

namespace sidecar {

void append_quoted(std::string& out, std::string_view value) {
  out += '"';
  for (char ch : value) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) {
      char esc[8];
      std::snprintf(esc, sizeof(esc), "\\x%02x",
                    static_cast<unsigned>(static_cast<unsigned char>(ch)));
      out += esc;
    } else {
      out += ch;
    }
  }
  out += '"';
}

std::string access_line(const AccessLogEntry& e) {
  std::string line = "stream ended peer=" + std::string(e.peer) + " subject=";
  append_quoted(line, e.decision->subject);
  line += " auth=";
  line += to_string(e.decision->method);
  line += " topics=";
  for (std::size_t i = 0; i < e.topics->size(); ++i) {
    if (i) line += ',';
    line += (*e.topics)[i].text();
  }
  line += " duration_ms=" + std::to_string(e.duration.count()) +
          " events=" + std::to_string(e.events) + " bytes=" + std::to_string(e.bytes) + " reason=";
  line += to_string(e.reason);
  line += " proto=";
  line += e.protocol;
  return line;
}

}  // namespace sidecar
