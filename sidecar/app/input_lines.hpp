// Cuts a publisher's input into LF-terminated lines as it is read, for sending them on as they
// are. A line up to `hold` bytes comes whole; a longer one is passed on in pieces as its bytes
// arrive, so memory stays bounded whatever the input holds, and the receiver (which has its own
// limit) judges it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sidecar {

class InputLines {
 public:
  explicit InputLines(std::size_t hold) : hold_(hold) {}

  enum class Kind { kNone, kLine, kPiece };
  struct Item {
    Kind kind = Kind::kNone;
    // kLine: the line without its LF (a CR before it is kept). kPiece: the next bytes of a line
    // longer than `hold`, never its LF. Valid until the next append().
    std::string_view bytes;
    bool ends = false;         // kPiece: the line ends after these bytes
    std::uint64_t number = 0;  // 1-based line number in the input, blank lines included
  };

  void append(std::string_view bytes);
  // The end of the input: a last line without LF is complete.
  void finish() { finished_ = true; }
  // The next line or piece; kNone when more input is needed (or, after finish(), none is left).
  Item next();
  // Whether next() would yield nothing until more input is appended.
  bool drained() const;
  std::size_t buffered() const { return buf_.size() - pos_; }

 private:
  std::size_t hold_;
  std::string buf_;
  std::size_t pos_ = 0;      // first byte not yet yielded
  std::size_t scan_ = 0;     // bytes after pos_ already known to hold no LF
  bool in_long_ = false;     // inside a line longer than hold_, partly yielded
  bool finished_ = false;    // no more input will be appended
  bool done_ = false;        // finished and everything yielded
  std::uint64_t lines_ = 0;  // lines started so far
};

}  // namespace sidecar
