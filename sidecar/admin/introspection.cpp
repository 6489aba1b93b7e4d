#include "sidecar/admin/introspection.hpp"

#include <charconv>
#include <cmath>
#include <set>

#include "sidecar/core/json_writer.hpp"

namespace sidecar {
namespace {

// Checks that each parameter is known and given once; calls `take(name, value)` for each.
// Returns the first problem, or "".
template <typename Take>
std::string each_param(const QueryParams& params, std::string_view path,
                       std::initializer_list<std::string_view> known, Take take) {
  std::set<std::string_view> seen;
  for (const auto& [name, value] : params) {
    bool is_known = false;
    for (auto k : known) is_known = is_known || k == name;
    if (!is_known) {
      std::string names;
      for (auto k : known) {
        if (!names.empty()) names += ", ";
        names += std::string(k) + "=";
      }
      return "unknown parameter '" + name.substr(0, 40) + "': " + std::string(path) + " takes " +
             names;
    }
    if (!seen.insert(name).second) return name + "= is given twice";
    if (std::string error = take(name, value); !error.empty()) return error;
  }
  return "";
}

std::string parse_limit(const std::string& value, std::size_t& out) {
  std::string wanted =
      "limit= must be a whole number from 1 to " + std::to_string(kIntrospectionMaxLimit);
  std::size_t n = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (value.empty() || ec != std::errc() || end != value.data() + value.size() || n == 0 ||
      n > kIntrospectionMaxLimit) {
    return wanted;
  }
  out = n;
  return "";
}

bool topic_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-' || c == ':' || c == '@' || c == '=';
}

// Ages and rates to the millisecond (or the thousandth): JSON without float noise.
double thousandths(double v) {
  return std::round(v * 1000.0) / 1000.0;
}

}  // namespace

std::string parse_topics_request(const QueryParams& params, TopicsRequest& out) {
  return each_param(params, "GET /topics", {"prefix", "limit"},
                    [&](const std::string& name, const std::string& value) -> std::string {
                      if (name == "limit") return parse_limit(value, out.limit);
                      if (value.size() > kMaxTopicBytes) {
                        return "prefix= is longer than a topic (" + std::to_string(kMaxTopicBytes) +
                               " bytes)";
                      }
                      for (char c : value) {
                        if (!topic_char(c)) {
                          return "prefix= may hold only what topics hold: letters, digits and "
                                 ". _ - : @ =";
                        }
                      }
                      out.prefix = value;
                      return "";
                    });
}

std::string parse_streams_request(const QueryParams& params, StreamFilter& out) {
  out.limit = kStreamsDefaultLimit;
  return each_param(params, "GET /streams", {"topic", "subject", "peer", "limit"},
                    [&](const std::string& name, const std::string& value) -> std::string {
                      if (name == "limit") return parse_limit(value, out.limit);
                      if (value.empty()) return name + "= is empty: give a value, or leave it out";
                      if (name == "topic") {
                        std::string error;
                        out.topic = TopicPattern::parse(value, &error);
                        if (!out.topic) return "topic= is not a topic or a pattern: " + error;
                      } else if (name == "subject") {
                        out.subject = value;
                      } else {
                        out.peer = value;
                      }
                      return "";
                    });
}

std::string topics_json(const TopicsRequest& request, const TopicListing& listing,
                        std::string_view engine) {
  rapidjson::StringBuffer json;
  JsonWriter w(json);
  w.StartObject();
  w.Key("engine");
  write_string(w, engine);
  w.Key("prefix");
  write_string(w, request.prefix);
  w.Key("limit");
  w.Uint64(request.limit);
  w.Key("total");
  w.Uint64(listing.total);
  w.Key("truncated");
  w.Bool(listing.total > listing.topics.size());
  w.Key("topics");
  w.StartArray();
  for (const auto& t : listing.topics) {
    w.StartObject();
    w.Key("topic");
    write_string(w, t.topic);
    w.Key("local_subscribers");
    w.Uint64(t.subscribers);
    w.Key("history_events");
    w.Uint64(t.history_events);
    w.Key("history_bytes");
    w.Uint64(t.history_bytes);
    w.Key("last_publish_ms");
    if (t.last_publish_ms) {
      w.Uint64(t.last_publish_ms);
    } else {
      w.Null();
    }
    w.Key("publish_rate");
    w.Double(thousandths(t.publish_rate));
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return json.GetString();
}

std::string streams_json(const StreamFilter& filter, const StreamListing& listing) {
  rapidjson::StringBuffer json;
  JsonWriter w(json);
  w.StartObject();
  w.Key("limit");
  w.Uint64(filter.limit);
  w.Key("total");
  w.Uint64(listing.total);
  w.Key("truncated");
  w.Bool(listing.total > listing.streams.size());
  w.Key("streams");
  w.StartArray();
  for (const auto& s : listing.streams) {
    w.StartObject();
    w.Key("id");
    write_string(w, std::to_string(s.worker) + "-" + std::to_string(s.serial));
    w.Key("peer");
    write_string(w, s.peer);
    if (!s.subject.empty()) {
      w.Key("subject");
      write_string(w, s.subject);
    }
    w.Key("auth");
    write_string(w, s.auth);
    w.Key("topics");
    w.StartArray();
    for (const auto& t : s.topics) write_string(w, t);
    w.EndArray();
    w.Key("protocol");
    write_string(w, s.protocol);
    w.Key("age_s");
    w.Double(thousandths(static_cast<double>(s.age_ms) / 1000.0));
    w.Key("events_sent");
    w.Uint64(s.events_sent);
    w.Key("bytes_sent");
    w.Uint64(s.bytes_sent);
    w.Key("buffered_bytes");
    w.Uint64(s.buffered_bytes);
    w.Key("worker");
    w.Uint(s.worker);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return json.GetString();
}

}  // namespace sidecar
