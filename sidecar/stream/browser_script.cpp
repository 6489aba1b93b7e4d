#include "sidecar/stream/browser_script.hpp"

#include "sidecar/core/crypto.hpp"
#include "sidecar/stream/http_response.hpp"

namespace sidecar {

const std::string& browser_script_etag() {
  // 64 bits of the digest tell builds apart; the whole digest would only lengthen every reply.
  static const std::string etag = "\"" + to_hex(sha256(embedded::kSidecarJs)).substr(0, 16) + "\"";
  return etag;
}

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

bool if_none_match_hits(std::string_view header, std::string_view etag) {
  while (!header.empty()) {
    auto comma = header.find(',');
    std::string_view tag = trim(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    if (tag == "*") return true;
    // If-None-Match compares weakly (RFC 9110 13.1.2): a W/ tag matches its strong twin.
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == etag) return true;
  }
  return false;
}

std::variant<Answer, Served> serve_browser_script(const HttpRequest& request) {
  const bool head_only = request.method == "HEAD";
  if (request.method != "GET" && !head_only) {
    return Answer{405, "only GET and HEAD read /sidecar.js", {{"Allow", "GET, HEAD"}}};
  }
  const std::string& etag = browser_script_etag();
  // The headers a 304 must repeat (RFC 9110 15.4.5) are those of the 200, less the body's.
  std::string common = "ETag: " + etag +
                       "\r\nCache-Control: public, max-age=300\r\n"
                       "Access-Control-Allow-Origin: *\r\nConnection: close\r\n";
  if (if_none_match_hits(request.header("if-none-match"), etag)) {
    return Served{
        304, "HTTP/1.1 304 " + std::string(status_text(304)) + "\r\n" + common + "\r\n", {}};
  }
  std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: text/javascript; charset=utf-8\r\n"
      "Content-Length: " +
      std::to_string(embedded::kSidecarJs.size()) + "\r\nX-Content-Type-Options: nosniff\r\n" +
      common + "\r\n";
  return Served{200, std::move(head), head_only ? std::string_view() : embedded::kSidecarJs};
}

}  // namespace sidecar
