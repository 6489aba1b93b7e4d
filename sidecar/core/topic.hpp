// Topic names and topic patterns.
//
// A topic is 1..200 bytes of segments separated by '.'; each segment is non-empty and made of
// ASCII letters, digits and `_ - : @ =`. A pattern is a topic, or a topic prefix followed by
// ".*" (matches every topic below that prefix, at any depth), or "*" alone (every topic).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sidecar {

inline constexpr std::size_t kMaxTopicBytes = 200;

// Empty when `topic` is a valid topic name, otherwise a one-line reason.
std::string topic_error(std::string_view topic);

// A topic template with every "{topic}" replaced by `topic` (e.g. "presence.{topic}").
std::string expand_topic_template(std::string_view pattern, std::string_view topic);

class TopicPattern {
 public:
  // nullopt with `error` filled when `text` is neither a topic nor a valid pattern.
  static std::optional<TopicPattern> parse(std::string_view text, std::string* error = nullptr);
  // Every valid pattern of `texts`, in order (the config loader has refused invalid ones).
  static std::vector<TopicPattern> parse_all(const std::vector<std::string>& texts);

  bool is_wildcard() const { return wildcard_; }
  // The topic for exact patterns; the prefix including its trailing '.' ("" for "*") otherwise.
  const std::string& stem() const { return stem_; }
  std::string text() const { return wildcard_ ? stem_ + "*" : stem_; }

  bool matches(std::string_view topic) const;
  // True when every topic `inner` matches is also matched by this pattern.
  bool covers(const TopicPattern& inner) const;

  friend bool operator==(const TopicPattern&, const TopicPattern&) = default;

 private:
  TopicPattern(std::string stem, bool wildcard) : stem_(std::move(stem)), wildcard_(wildcard) {}
  std::string stem_;
  bool wildcard_;
};

}  // namespace sidecar
