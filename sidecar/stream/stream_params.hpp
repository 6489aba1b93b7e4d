// What a GET /events request asks for, read from its query string and headers.
#pragma once

#include <string>
#include <vector>

#include "sidecar/auth/access.hpp"
#include "sidecar/config/config.hpp"
#include "sidecar/core/topic.hpp"
#include "sidecar/net/http_request.hpp"

namespace sidecar {

struct StreamParams {
  std::vector<TopicPattern> topics;  // normalised: no entry matches what another already does
  std::string last_event_id;         // Last-Event-ID header, else `last_event_id` parameter
  std::string access_token;          // `access_token` parameter
  // `since=latest` (1) or `last=N`: the newest N events of each topic come first; 0 = none.
  // A Last-Event-ID takes precedence: a reconnecting stream resumes instead.
  std::size_t latest = 0;
  SignedUrl signed_url;  // `subject`, `expires`, `signature` and the raw topics
};

// False with a one-line `error` (for a 400 answer) when the request is malformed or asks for
// more than `config` allows.
bool parse_stream_params(const HttpRequest& request, const Config& config, StreamParams& out,
                         std::string& error);

// What the access policy needs to know about the request. The token is the first of:
// "Authorization: Bearer", the `access_token` parameter, the cookie named access.cookie.
AccessRequest make_access_request(const HttpRequest& request, const StreamParams& params,
                                  const Config& config, std::string_view peer);

// Removes duplicates and patterns covered by another entry, so that one stream matches each
// topic through exactly one entry (and is counted and served once per event).
std::vector<TopicPattern> normalize_topics(std::vector<TopicPattern> topics);

}  // namespace sidecar
