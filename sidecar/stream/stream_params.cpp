#include "sidecar/stream/stream_params.hpp"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>

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

}  // namespace

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
  evkeyval* kv = nullptr;
  TAILQ_FOREACH(kv, &query.list, next) {
    std::string_view key = kv->key;
    if (key == "last_event_id") {
      out.last_event_id = kv->value;
    } else if (key == "access_token") {
      out.access_token = kv->value;
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
      topics.push_back(std::move(*pattern));
    }
  }
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
