#include "sidecar/ingest/line_splitter.hpp"

namespace sidecar {

LineSplitter::Item LineSplitter::next() {
  while (true) {
    std::size_t lf = buf_.find('\n', pos_ + scan_);
    if (lf == std::string::npos) {
      std::size_t pending = buf_.size() - pos_;
      // A trailing CR may be the first half of the CRLF ending: it is not part of the line.
      std::size_t line_bytes = pending - (pending > 0 && buf_.back() == '\r' ? 1 : 0);
      if (skipping_ || line_bytes > max_line_) {
        // Drop what we hold of an over-long line; report it only when it first overflows.
        bool first = !skipping_;
        skipping_ = true;
        buf_.clear();
        pos_ = scan_ = 0;
        if (first) return {Kind::kTooLong, {}};
        return {};
      }
      scan_ = pending;
      if (pos_ > 0) {  // compact, so the buffer holds at most one partial line
        buf_.erase(0, pos_);
        pos_ = 0;
      }
      return {};
    }
    std::string_view line(buf_.data() + pos_, lf - pos_);
    pos_ = lf + 1;
    scan_ = 0;
    if (skipping_) {  // the tail of a line already reported as too long
      skipping_ = false;
      continue;
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > max_line_) return {Kind::kTooLong, {}};
    return {Kind::kLine, line};
  }
}

}  // namespace sidecar
