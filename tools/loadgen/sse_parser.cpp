#include "tools/loadgen/sse_parser.hpp"

#include <algorithm>

namespace loadgen {

namespace {

// A split line keeps room for a field name ("event: " is the longest that matters) on top of
// kKeepBytes of value, so a value split across reads is kept exactly as much as a whole one.
constexpr size_t kLineKeepBytes = SseParser::kKeepBytes + 8;

void append_bounded(std::string& out, std::string_view piece, size_t limit) {
  size_t room = limit - std::min(out.size(), limit);
  out.append(piece.data(), std::min(room, piece.size()));
}

}  // namespace

void SseParser::reset() {
  partial_.clear();
  data_.clear();
  type_.clear();
  last_id_.clear();
  partial_len_ = 0;
  data_len_ = 0;
  has_partial_ = false;
  has_data_ = false;
  skip_lf_ = false;
}

void SseParser::carry(std::string_view piece) {
  has_partial_ = true;
  partial_len_ += piece.size();
  append_bounded(partial_, piece, kLineKeepBytes);
}

bool SseParser::line(std::string_view kept, uint64_t full_len) {
  if (full_len == 0) {
    if (has_data_) return true;
    type_.clear();  // a blank line without data ends the event without dispatching it
    return false;
  }
  if (kept.front() == ':') {
    ++comments_;
    return false;
  }
  size_t colon = kept.find(':');
  std::string_view name = kept.substr(0, colon);
  uint64_t value_offset = full_len;  // a line without a colon is a field with an empty value
  std::string_view value;
  if (colon != std::string_view::npos) {
    value_offset = colon + 1;
    if (value_offset < kept.size() && kept[value_offset] == ' ') ++value_offset;
    value = kept.substr(std::min<size_t>(value_offset, kept.size()));
  }
  uint64_t value_len = full_len - std::min(value_offset, full_len);
  if (name == "data") {
    if (has_data_) {
      append_bounded(data_, "\n", kKeepBytes);
      ++data_len_;
    }
    append_bounded(data_, value, kKeepBytes);
    data_len_ += value_len;
    has_data_ = true;
  } else if (name == "id") {
    // An id containing NUL is ignored, as browsers do.
    if (value.find('\0') == std::string_view::npos) last_id_.assign(value);
  } else if (name == "event") {
    type_.assign(value);
  }
  // `retry` and unknown fields change nothing the load generator reports.
  return false;
}

SseEvent SseParser::event() const {
  return SseEvent{last_id_, type_.empty() ? std::string_view("message") : std::string_view(type_),
                  data_, data_len_};
}

void SseParser::end_event() {
  data_.clear();
  type_.clear();
  data_len_ = 0;
  has_data_ = false;
}

}  // namespace loadgen
