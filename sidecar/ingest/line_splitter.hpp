// Splits a byte stream into LF-terminated lines with a bound on line length. Lines may arrive
// split over many reads or many to a read. A line over the bound is reported once and skipped
// up to its end without ever being held whole, so a huge line cannot exhaust memory.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sidecar {

class LineSplitter {
 public:
  explicit LineSplitter(std::size_t max_line) : max_line_(max_line) {}

  enum class Kind { kNone, kLine, kTooLong };
  struct Item {
    Kind kind = Kind::kNone;
    std::string_view line;  // without "\n" or "\r\n"; valid until the next append()
  };

  void append(std::string_view bytes) { buf_.append(bytes); }
  // The next complete line, a too-long report, or kNone when more input is needed.
  Item next();
  std::size_t buffered() const { return buf_.size() - pos_; }
  void set_max_line(std::size_t max_line) { max_line_ = max_line; }

 private:
  std::size_t max_line_;
  std::string buf_;
  std::size_t pos_ = 0;    // start of the first unconsumed byte
  std::size_t scan_ = 0;   // bytes after pos_ already known to hold no LF
  bool skipping_ = false;  // inside a too-long line already reported
};

}  // namespace sidecar
