#include "sidecar/core/topic.hpp"

namespace sidecar {
namespace {

bool is_topic_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == ':' || c == '@' || c == '=';
}

}  // namespace

std::string expand_topic_template(std::string_view pattern, std::string_view topic) {
  constexpr std::string_view kPlaceholder = "{topic}";
  std::string out;
  std::size_t from = 0;
  for (auto at = pattern.find(kPlaceholder); at != std::string_view::npos;
       at = pattern.find(kPlaceholder, from)) {
    out.append(pattern.substr(from, at - from)).append(topic);
    from = at + kPlaceholder.size();
  }
  out.append(pattern.substr(from));
  return out;
}

std::string topic_error(std::string_view topic) {
  if (topic.empty()) return "topic is empty";
  if (topic.size() > kMaxTopicBytes) {
    return "topic is longer than " + std::to_string(kMaxTopicBytes) + " bytes";
  }
  bool segment_empty = true;
  for (char c : topic) {
    if (c == '.') {
      if (segment_empty) return "topic has an empty segment";
      segment_empty = true;
    } else if (is_topic_char(c)) {
      segment_empty = false;
    } else {
      return "topic may contain only letters, digits, '.', '_', '-', ':', '@' and '='";
    }
  }
  if (segment_empty) return "topic has an empty segment";
  return {};
}

std::optional<TopicPattern> TopicPattern::parse(std::string_view text, std::string* error) {
  if (text == "*") return TopicPattern("", true);
  bool wildcard = text.size() > 2 && text.ends_with(".*");
  std::string_view topic = wildcard ? text.substr(0, text.size() - 2) : text;
  std::string reason = topic_error(topic);
  if (!reason.empty()) {
    if (error) *error = "'" + std::string(text) + "': " + reason;
    return std::nullopt;
  }
  return wildcard ? TopicPattern(std::string(topic) + ".", true)
                  : TopicPattern(std::string(topic), false);
}

std::vector<TopicPattern> TopicPattern::parse_all(const std::vector<std::string>& texts) {
  std::vector<TopicPattern> out;
  for (const auto& t : texts) {
    if (auto p = parse(t)) out.push_back(*p);
  }
  return out;
}

bool TopicPattern::matches(std::string_view topic) const {
  if (!wildcard_) return topic == stem_;
  return topic.size() > stem_.size() && topic.starts_with(stem_);
}

bool TopicPattern::covers(const TopicPattern& inner) const {
  if (!wildcard_) return !inner.wildcard_ && inner.stem_ == stem_;
  if (inner.wildcard_) return inner.stem_.starts_with(stem_);
  return matches(inner.stem_);
}

}  // namespace sidecar
