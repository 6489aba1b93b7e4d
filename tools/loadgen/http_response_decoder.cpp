#include "tools/loadgen/http_response_decoder.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace loadgen {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);
         });
}

bool icontains(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return false;
  for (size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    if (iequals(hay.substr(i, needle.size()), needle)) return true;
  }
  return false;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// End of the head (just past its blank line) in `buf`, searching from `from`; npos if absent.
size_t head_end(std::string_view buf, size_t from) {
  for (size_t i = from; i < buf.size(); ++i) {
    if (buf[i] != '\n') continue;
    if (i >= 1 && buf[i - 1] == '\n') return i + 1;
    if (i >= 2 && buf[i - 1] == '\r' && buf[i - 2] == '\n') return i + 1;
  }
  return std::string_view::npos;
}

}  // namespace

void HttpResponseDecoder::reset() {
  std::string().swap(head_);
  remaining_ = 0;
  error_ = "";
  status_ = 0;
  state_ = State::kHead;
  chunked_ = false;
  keep_alive_ = true;
  size_digits_ = false;
  trailer_empty_ = true;
  seen_cr_ = false;
}

HttpResponseDecoder::Piece HttpResponseDecoder::fail(const char* why) {
  state_ = State::kFailed;
  error_ = why;
  std::string().swap(head_);
  return {Piece::kError, {}};
}

bool HttpResponseDecoder::parse_head(std::string_view head) {
  size_t eol = head.find('\n');
  std::string_view status_line = trim(head.substr(0, eol));
  // "HTTP/1.1 200 OK"
  if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." || status_line[8] != ' ') {
    error_ = "malformed status line";
    return false;
  }
  keep_alive_ = status_line[7] != '0';
  int code = 0;
  auto [end, ec] = std::from_chars(status_line.data() + 9, status_line.data() + 12, code);
  if (ec != std::errc() || end != status_line.data() + 12 || code < 100) {
    error_ = "malformed status code";
    return false;
  }
  status_ = code;
  chunked_ = false;
  bool has_length = false;
  uint64_t length = 0;
  size_t pos = eol == std::string_view::npos ? head.size() : eol + 1;
  while (pos < head.size()) {
    size_t next = head.find('\n', pos);
    if (next == std::string_view::npos) next = head.size();
    std::string_view line = head.substr(pos, next - pos);
    pos = next + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      error_ = "malformed header line";
      return false;
    }
    std::string_view name = trim(line.substr(0, colon));
    std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "transfer-encoding")) {
      chunked_ = icontains(value, "chunked");
    } else if (iequals(name, "content-length")) {
      auto [vend, vec] = std::from_chars(value.data(), value.data() + value.size(), length);
      if (vec != std::errc() || vend != value.data() + value.size()) {
        error_ = "malformed Content-Length";
        return false;
      }
      has_length = true;
    } else if (iequals(name, "connection")) {
      if (icontains(value, "close")) keep_alive_ = false;
      if (icontains(value, "keep-alive")) keep_alive_ = true;
    }
  }
  if ((code >= 100 && code < 200) || code == 204 || code == 304) {
    remaining_ = 0;
    state_ = State::kDone;
  } else if (chunked_) {
    remaining_ = 0;
    size_digits_ = false;
    state_ = State::kChunkSize;
  } else if (has_length) {
    remaining_ = length;
    state_ = length ? State::kLengthBody : State::kDone;
  } else {
    keep_alive_ = false;  // the body ends with the connection
    state_ = State::kCloseBody;
  }
  return true;
}

HttpResponseDecoder::Piece HttpResponseDecoder::next_chunk_size(std::string_view& in) {
  while (!in.empty()) {
    char c = in.front();
    if (state_ == State::kChunkSize) {
      int h = hex_value(c);
      if (h >= 0) {
        if (remaining_ >> 56) return fail("chunk size too large");
        remaining_ = remaining_ * 16 + static_cast<uint64_t>(h);
        size_digits_ = true;
        in.remove_prefix(1);
        continue;
      }
      if (!size_digits_) return fail("malformed chunk size");
      if (c != ';' && c != ' ' && c != '\t' && c != '\r' && c != '\n') {
        return fail("malformed chunk size");
      }
      state_ = State::kChunkExtension;
    }
    // Chunk extensions (and the CR) are skipped up to the line's LF.
    in.remove_prefix(1);
    if (c != '\n') continue;
    size_digits_ = false;
    if (remaining_ == 0) {
      trailer_empty_ = true;
      state_ = State::kTrailer;
    } else {
      state_ = State::kChunkData;
    }
    return {Piece::kNeedMore, {}};  // tells next() to go on with the new state
  }
  return {Piece::kNeedMore, {}};
}

HttpResponseDecoder::Piece HttpResponseDecoder::next(std::string_view& in) {
  for (;;) {
    switch (state_) {
      case State::kHead: {
        if (in.empty()) return {Piece::kNeedMore, {}};
        size_t old = head_.size();
        size_t take = std::min(in.size(), kMaxHeadBytes + 1 - std::min(old, kMaxHeadBytes + 1));
        head_.append(in.data(), take);
        size_t end = head_end(head_, old >= 3 ? old - 3 : 0);
        if (end == std::string::npos) {
          in.remove_prefix(take);
          if (head_.size() > kMaxHeadBytes) return fail("response head too large");
          return {Piece::kNeedMore, {}};
        }
        in.remove_prefix(end - old);
        head_.resize(end);
        if (!parse_head(head_)) return fail(error_);
        std::string().swap(head_);
        if (status_ >= 100 && status_ < 200 && status_ != 101) {
          state_ = State::kHead;  // an interim response: the real one follows
          continue;
        }
        return {Piece::kHead, {}};
      }
      case State::kChunkSize:
      case State::kChunkExtension: {
        if (in.empty()) return {Piece::kNeedMore, {}};
        Piece p = next_chunk_size(in);
        if (p.kind == Piece::kError) return p;
        continue;
      }
      case State::kChunkData: {
        if (in.empty()) return {Piece::kNeedMore, {}};
        size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, in.size()));
        std::string_view body = in.substr(0, n);
        in.remove_prefix(n);
        remaining_ -= n;
        if (remaining_ == 0) {
          seen_cr_ = false;
          state_ = State::kChunkDataEnd;
        }
        return {Piece::kBody, body};
      }
      case State::kChunkDataEnd: {
        if (in.empty()) return {Piece::kNeedMore, {}};
        char c = in.front();
        in.remove_prefix(1);
        if (c == '\r' && !seen_cr_) {
          seen_cr_ = true;
        } else if (c == '\n') {
          state_ = State::kChunkSize;
        } else {
          return fail("missing CRLF after chunk data");
        }
        continue;
      }
      case State::kTrailer: {
        if (in.empty()) return {Piece::kNeedMore, {}};
        char c = in.front();
        in.remove_prefix(1);
        if (c == '\n') {
          if (trailer_empty_) {
            state_ = State::kDone;
            return {Piece::kEnd, {}};
          }
          trailer_empty_ = true;
        } else if (c != '\r') {
          trailer_empty_ = false;
        }
        continue;
      }
      case State::kLengthBody: {
        if (in.empty()) return {Piece::kNeedMore, {}};
        size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, in.size()));
        std::string_view body = in.substr(0, n);
        in.remove_prefix(n);
        remaining_ -= n;
        if (remaining_ == 0) state_ = State::kDone;
        return {Piece::kBody, body};
      }
      case State::kCloseBody: {
        if (in.empty()) return {Piece::kNeedMore, {}};
        std::string_view body = in;
        in.remove_prefix(in.size());
        return {Piece::kBody, body};
      }
      case State::kDone:
        return {Piece::kEnd, {}};
      case State::kFailed:
        return {Piece::kError, {}};
    }
  }
}

}  // namespace loadgen
