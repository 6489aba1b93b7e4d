#include "sidecar/app/input_lines.hpp"

namespace sidecar {

void InputLines::append(std::string_view bytes) {
  if (pos_ > 0) {  // what was yielded is no longer referenced: keep only the partial line
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
}

bool InputLines::drained() const {
  if (done_) return true;
  if (finished_) return false;
  std::size_t pending = buf_.size() - pos_;
  if (buf_.find('\n', pos_ + scan_) != std::string::npos) return false;
  return in_long_ ? pending == 0 : pending <= hold_;
}

InputLines::Item InputLines::next() {
  if (done_) return {};
  std::size_t lf = buf_.find('\n', pos_ + scan_);
  if (lf != std::string::npos) {
    std::string_view bytes(buf_.data() + pos_, lf - pos_);
    pos_ = lf + 1;
    scan_ = 0;
    if (in_long_) {
      in_long_ = false;
      return {Kind::kPiece, bytes, true, lines_};
    }
    return {Kind::kLine, bytes, false, ++lines_};
  }
  std::size_t pending = buf_.size() - pos_;
  if (finished_) {
    done_ = true;
    std::string_view bytes(buf_.data() + pos_, pending);
    pos_ = buf_.size();
    if (in_long_) {
      in_long_ = false;
      return {Kind::kPiece, bytes, true, lines_};
    }
    if (pending == 0) return {};
    return {Kind::kLine, bytes, false, ++lines_};
  }
  if (in_long_ ? pending == 0 : pending <= hold_) {
    scan_ = pending;
    return {};
  }
  // Longer than a line is held: pass on what there is, and the rest as it comes.
  std::uint64_t number = in_long_ ? lines_ : ++lines_;
  in_long_ = true;
  std::string_view bytes(buf_.data() + pos_, pending);
  pos_ = buf_.size();
  scan_ = 0;
  return {Kind::kPiece, bytes, false, number};
}

}  // namespace sidecar
