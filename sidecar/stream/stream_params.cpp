#include "sidecar/stream/stream_params.hpp"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>

#include <algorithm>
#include <memory>

namespace sidecar {
namespace {

// Owns the list evhttp_parse_query_str fills.
struct QueryList {
  evkeyvalq list{};
  QueryList() { TAILQ_INIT(&list); }
  ~QueryList() { evhttp_clear_headers(&list); }
  QueryList(const QueryList&) = delete;
  QueryList& operator=(const QueryList&) = delete;
};

// `last=N`: 1 to history.max_events (more than history holds for any topic would be a promise
// it cannot keep).
bool parse_latest_count(std::string_view text, std::size_t max, std::size_t& out,
                        std::string& error) {
  std::size_t n = 0;
  bool digits = !text.empty() && text.size() <= 9;
  for (char ch : text) {
    if (ch < '0' || ch > '9') digits = false;
    if (digits) n = n * 10 + static_cast<std::size_t>(ch - '0');
  }
  if (!digits || n == 0 || n > max) {
    error = "last must be a whole number from 1 to " + std::to_string(max) +
            " (history.max_events), got '" + std::string(text) + "'";
    return false;
  }
  out = n;
  return true;
}

// The value of cookie `name` in a Cookie header ("a=1; b=2"), or "".
std::string_view cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    auto end = header.find(';');
    std::string_view pair = header.substr(0, end);
    header = end == std::string_view::npos ? std::string_view() : header.substr(end + 1);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    auto eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) return pair.substr(eq + 1);
  }
  return {};
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

AccessRequest make_access_request(const HttpRequest& request, const StreamParams& params,
                                  const Config& config, std::string_view peer) {
  AccessRequest r;
  r.origin = request.header("origin");
  r.peer = peer;
  r.topics = params.topics;
  r.signed_url = params.signed_url;
  if (std::string_view auth = request.header("authorization"); auth.starts_with("Bearer ")) {
    r.token = auth.substr(7);
  } else if (!params.access_token.empty()) {
    r.token = params.access_token;
  } else if (!config.access.cookie.empty()) {
    r.token = cookie_value(request.header("cookie"), config.access.cookie);
  }
  if (!config.access.delegate.url.empty()) {
    for (const auto& name : config.access.delegate.forward_headers) {
      if (auto value = request.header(lower(name)); !value.empty()) {
        r.forwarded.emplace_back(name, std::string(value));
      }
    }
  }
  return r;
}

std::vector<TopicPattern> normalize_topics(std::vector<TopicPattern> topics) {
  std::vector<TopicPattern> kept;
  for (std::size_t i = 0; i < topics.size(); ++i) {
    bool redundant = false;
    for (std::size_t j = 0; j < topics.size() && !redundant; ++j) {
      if (i == j || !topics[j].covers(topics[i])) continue;
      // Equal entries cover each other: keep the first of them.
      redundant = !topics[i].covers(topics[j]) || j < i;
    }
    if (!redundant) kept.push_back(topics[i]);  // copied: later rounds still compare against it
  }
  return kept;
}

bool parse_stream_params(const HttpRequest& request, const Config& config, StreamParams& out,
                         std::string& error) {
  QueryList query;
  std::string query_text(request.query());
  if (evhttp_parse_query_str(query_text.c_str(), &query.list) != 0) {
    error = "malformed query string";
    return false;
  }
  std::vector<TopicPattern> topics;
  bool since_latest = false;
  bool last_given = false;
  evkeyval* kv = nullptr;
  TAILQ_FOREACH(kv, &query.list, next) {
    std::string_view key = kv->key;
    if (key == "last_event_id") {
      out.last_event_id = kv->value;
    } else if (key == "since") {
      if (std::string_view(kv->value) != "latest") {
        error = "since must be 'latest' (or use last=N for the newest N events of each topic)";
        return false;
      }
      since_latest = true;
    } else if (key == "last") {
      if (!parse_latest_count(kv->value, std::max<std::size_t>(config.history.max_events, 1),
                              out.latest, error)) {
        return false;
      }
      last_given = true;
    } else if (key == "access_token") {
      out.access_token = kv->value;
    } else if (key == "subject") {
      out.signed_url.subject = kv->value;
    } else if (key == "expires") {
      out.signed_url.expires = kv->value;
    } else if (key == "signature") {
      out.signed_url.signature = kv->value;
    } else if (key == "topic") {
      if (topics.size() == config.limits.max_topics_per_stream) {
        error = "too many topics (at most " + std::to_string(config.limits.max_topics_per_stream) +
                " per stream)";
        return false;
      }
      std::string reason;
      auto pattern = TopicPattern::parse(kv->value, &reason);
      if (!pattern) {
        error = "invalid topic " + reason;
        return false;
      }
      if (pattern->is_wildcard() && !config.stream.allow_patterns) {
        error = "topic patterns are not allowed: '" + pattern->text() + "'";
        return false;
      }
      out.signed_url.topics.emplace_back(kv->value);
      topics.push_back(std::move(*pattern));
    }
  }
  if (since_latest && last_given) {
    error = "give either since=latest or last=N, not both";
    return false;
  }
  if (since_latest) out.latest = 1;
  if (topics.empty()) {
    error = "at least one topic parameter is required, e.g. /events?topic=public.demo";
    return false;
  }
  if (auto header = request.header("last-event-id"); !header.empty()) {
    out.last_event_id = header;
  }
  out.topics = normalize_topics(std::move(topics));
  return true;
}

}  // namespace sidecar
