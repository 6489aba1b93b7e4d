#include "sidecar/stream/h2_response.hpp"

#include <charconv>
#include <string>

namespace sidecar {

SplitResponse split_response(std::string_view response) {
  SplitResponse out;
  auto end = response.find("\r\n\r\n");
  if (end == std::string_view::npos) return out;
  std::string_view head = response.substr(0, end + 2);
  out.body = response.substr(end + 4);
  auto line_end = head.find("\r\n");
  std::string_view status_line = head.substr(0, line_end);
  head.remove_prefix(line_end + 2);
  // "HTTP/1.1 200 OK"
  auto sp = status_line.find(' ');
  if (sp == std::string_view::npos || status_line.size() < sp + 4) return out;
  int status = 0;
  const char* digits = status_line.data() + sp + 1;
  if (std::from_chars(digits, digits + 3, status).ec != std::errc()) return out;
  out.status = status;
  while (!head.empty()) {
    line_end = head.find("\r\n");
    std::string_view line = head.substr(0, line_end);
    head.remove_prefix(line_end + 2);
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    out.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
  }
  return out;
}

}  // namespace sidecar
