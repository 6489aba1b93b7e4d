#include "sidecar/net/http_request.hpp"

#include <algorithm>

namespace sidecar {
namespace {

bool is_token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits off the next line (LF or CRLF terminated) from `rest`.
std::string_view next_line(std::string_view& rest) {
  auto lf = rest.find('\n');
  std::string_view line = rest.substr(0, lf);
  rest.remove_prefix(lf + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

bool parse_request_line(std::string_view line, HttpRequest& out, std::string& error) {
  auto sp1 = line.find(' ');
  auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    error = "malformed request line";
    return false;
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (method.empty() || !std::all_of(method.begin(), method.end(), is_token_char)) {
    error = "malformed method";
    return false;
  }
  if (target.empty() || target.front() != '/' ||
      std::any_of(target.begin(), target.end(),
                  [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; })) {
    error = "malformed request target";
    return false;
  }
  if (version == "HTTP/1.1")
    out.minor_version = 1;
  else if (version == "HTTP/1.0")
    out.minor_version = 0;
  else {
    error = "unsupported HTTP version";
    return false;
  }
  out.method = method;
  out.target = target;
  return true;
}

bool parse_header(std::string_view line, HttpRequest& out, std::string& error) {
  auto colon = line.find(':');
  std::string_view name = line.substr(0, colon);
  if (colon == std::string_view::npos || name.empty() ||
      !std::all_of(name.begin(), name.end(), is_token_char)) {
    error = "malformed header line";
    return false;
  }
  std::string_view value = trim(line.substr(colon + 1));
  if (std::any_of(value.begin(), value.end(), [](char c) { return c == '\0' || c == '\r'; })) {
    error = "control character in header value";
    return false;
  }
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  out.headers.emplace_back(std::move(lower), std::string(value));
  return true;
}

}  // namespace

std::string_view HttpRequest::path() const {
  std::string_view t = target;
  return t.substr(0, t.find('?'));
}

std::string_view HttpRequest::query() const {
  std::string_view t = target;
  auto q = t.find('?');
  return q == std::string_view::npos ? std::string_view() : t.substr(q + 1);
}

std::string_view HttpRequest::header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return value;
  }
  return {};
}

HttpParse parse_http_request(std::string_view input, std::size_t max_bytes, HttpRequest& out,
                             std::string& error, std::size_t& consumed) {
  // Clients may send blank lines before the request line (RFC 9112, 2.2).
  std::size_t skip = 0;
  while (skip < input.size() && (input[skip] == '\r' || input[skip] == '\n')) ++skip;
  std::string_view view = input.substr(0, std::min(input.size(), max_bytes + skip));
  auto end = view.find("\n\r\n", skip);
  std::size_t end_len = 3;
  if (auto bare = view.find("\n\n", skip); bare != std::string_view::npos && bare < end) {
    end = bare;
    end_len = 2;
  }
  if (end == std::string_view::npos) {
    if (input.size() >= max_bytes + skip) {
      error = "request headers too large";
      return HttpParse::kTooLarge;
    }
    return HttpParse::kIncomplete;
  }
  std::string_view head = view.substr(skip, end + 1 - skip);
  out = HttpRequest{};
  if (!parse_request_line(next_line(head), out, error)) return HttpParse::kMalformed;
  while (!head.empty()) {
    std::string_view line = next_line(head);
    if (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
      error = "obsolete header line folding";
      return HttpParse::kMalformed;
    }
    if (!parse_header(line, out, error)) return HttpParse::kMalformed;
  }
  consumed = end + end_len;
  return HttpParse::kDone;
}

}  // namespace sidecar
