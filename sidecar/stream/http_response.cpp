#include "sidecar/stream/http_response.hpp"

#include <algorithm>

namespace sidecar {

std::string_view status_text(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}

namespace {

void append_headers(std::string& out, const HeaderList& headers) {
  for (const auto& [name, value] : headers)
    out.append(name).append(": ").append(value).append("\r\n");
}

}  // namespace

std::string simple_response(int status, std::string_view reason, const HeaderList& headers) {
  // A reason may quote client input (a decoded topic); it stays one line whatever it holds.
  std::string body(reason);
  std::replace_if(
      body.begin(), body.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; }, ' ');
  if (!body.empty()) body.push_back('\n');
  std::string out =
      "HTTP/1.1 " + std::to_string(status) + " " + std::string(status_text(status)) + "\r\n";
  if (status != 204) {
    out += "Content-Type: text/plain; charset=utf-8\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n";
  }
  out += "Connection: close\r\nCache-Control: no-store\r\n";
  append_headers(out, headers);
  out += "\r\n";
  if (status != 204) out += body;
  return out;
}

std::string stream_head(bool chunked, const HeaderList& headers) {
  std::string out = chunked ? "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                            : "HTTP/1.0 200 OK\r\nConnection: close\r\n";
  out +=
      "Content-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-cache\r\n"
      "X-Accel-Buffering: no\r\n";
  append_headers(out, headers);
  out += "\r\n";
  return out;
}

}  // namespace sidecar
