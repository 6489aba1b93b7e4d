// Incremental parser of a text/event-stream body (the WHATWG "event stream interpretation"):
// lines end in CRLF, LF or CR; `:` starts a comment; `id`, `event`, `data` and `retry` fields;
// a blank line dispatches the event when it has data.
//
// Made for holding tens of thousands of streams at once: complete lines are parsed in place from
// the caller's buffer, and only the first kKeepBytes of a field value or of the event's data are
// kept (the load generator needs only the timestamp prefix of the data). Longer values are
// counted, not stored, so a connection costs a few hundred bytes at most.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace loadgen {

struct SseEvent {
  std::string_view id;    // the last event id seen on the stream (it persists across events)
  std::string_view type;  // "message" unless an `event` field named it
  std::string_view data;  // the data lines joined by LF, cut at SseParser::kKeepBytes
  uint64_t data_bytes;    // length of the full data
  bool truncated() const { return data.size() < data_bytes; }
};

class SseParser {
 public:
  static constexpr size_t kKeepBytes = 256;

  // Parses `in` and calls on_event(const SseEvent&) for each dispatched event. The views in the
  // event are valid only during the call.
  template <class OnEvent>
  void feed(std::string_view in, OnEvent&& on_event);

  uint64_t comments() const { return comments_; }
  // Resets to the start of a new stream (the last event id is forgotten too).
  void reset();

 private:
  // Handles one complete line, of which `kept` is the start and `full_len` the full length.
  // Returns true when the line dispatches an event (a blank line with data pending).
  bool line(std::string_view kept, uint64_t full_len);
  SseEvent event() const;
  void end_event();
  // Appends as much of `piece` to the partial line as kKeepBytes allows.
  void carry(std::string_view piece);

  std::string partial_;  // start of a line split across feeds
  std::string data_;     // start of the event's data
  std::string type_;
  std::string last_id_;
  uint64_t partial_len_ = 0;  // full length of the split line so far
  uint64_t data_len_ = 0;
  uint64_t comments_ = 0;
  bool has_partial_ = false;
  bool has_data_ = false;
  bool skip_lf_ = false;  // the previous feed ended in CR: an LF starting this one belongs to it
};

template <class OnEvent>
void SseParser::feed(std::string_view in, OnEvent&& on_event) {
  const char* p = in.data();
  const char* end = p + in.size();
  if (skip_lf_ && p < end) {
    if (*p == '\n') ++p;
    skip_lf_ = false;
  }
  while (p < end) {
    // memchr twice (LF, then CR before it) beats a byte loop on long padded lines.
    const char* lf = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    const char* stop = lf ? lf : end;
    const char* cr = static_cast<const char*>(std::memchr(p, '\r', static_cast<size_t>(stop - p)));
    const char* eol = cr ? cr : lf;
    if (!eol) {
      carry(std::string_view(p, static_cast<size_t>(end - p)));
      return;
    }
    std::string_view piece(p, static_cast<size_t>(eol - p));
    p = eol + 1;
    if (eol == cr) {
      if (p < end) {
        if (*p == '\n') ++p;
      } else {
        skip_lf_ = true;
      }
    }
    bool dispatch;
    if (has_partial_) {
      carry(piece);
      dispatch = line(partial_, partial_len_);
      partial_.clear();
      partial_len_ = 0;
      has_partial_ = false;
    } else {
      dispatch = line(piece, piece.size());
    }
    if (dispatch) {
      on_event(event());
      end_event();
    }
  }
}

}  // namespace loadgen
