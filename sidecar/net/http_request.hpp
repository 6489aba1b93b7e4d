// A strict parser for the head of an HTTP/1.x request (request line and headers, no body),
// which is all a stream request carries. It never reads past `max_bytes`, rejects obsolete
// line folding and control characters, and reports why a request is malformed.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sidecar/core/header_list.hpp"

namespace sidecar {

struct HttpRequest {
  std::string method;
  std::string target;     // as sent: path plus optional "?query"
  int minor_version = 1;  // HTTP/1.<minor>
  HeaderList headers;     // names lower-cased

  std::string_view path() const;
  std::string_view query() const;  // without '?'; empty when absent
  // The first header with this (lower-case) name; empty when absent.
  std::string_view header(std::string_view lower_name) const;
};

enum class HttpParse { kIncomplete, kDone, kMalformed, kTooLarge };

// Parses the request head at the start of `input`. On kDone, `consumed` is its length.
HttpParse parse_http_request(std::string_view input, std::size_t max_bytes, HttpRequest& out,
                             std::string& error, std::size_t& consumed);

}  // namespace sidecar
