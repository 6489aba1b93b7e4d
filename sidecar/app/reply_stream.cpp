#include "sidecar/app/reply_stream.hpp"

#include <algorithm>

namespace sidecar {
namespace {

constexpr std::string_view kOk = "{\"ok\":true";
constexpr std::string_view kError = "{\"ok\":false";
constexpr std::string_view kRepliesAll = "{\"ok\":true,\"replies\":\"all\"}";
constexpr std::string_view kClosing = "{\"ok\":false,\"error\":\"closing:";
// Bytes enough to tell every kind apart; a shorter line is told apart at its end.
constexpr std::size_t kHeadBytes = std::max(kRepliesAll.size() + 1, kClosing.size());

}  // namespace

void ReplyStream::classify(Sink& sink) {
  std::string_view head = head_;
  Kind kind = Kind::kOther;
  if (head == kRepliesAll) {
    kind = Kind::kRepliesAll;
  } else if (head.starts_with(kClosing)) {
    kind = Kind::kClosing;
  } else if (head.starts_with(kOk)) {
    kind = Kind::kAccepted;
  } else if (head.starts_with(kError)) {
    kind = Kind::kRefused;
  }
  begun_ = true;
  sink.begin(kind);
  sink.bytes(head);
  head_.clear();
}

void ReplyStream::feed(std::string_view bytes, Sink& sink) {
  while (!bytes.empty()) {
    std::size_t lf = bytes.find('\n');
    std::string_view part = bytes.substr(0, lf);
    if (!begun_) {
      std::size_t take = std::min(part.size(), kHeadBytes - head_.size());
      head_.append(part.substr(0, take));
      part.remove_prefix(take);
      // Told apart once the head is full, or at the line's end.
      if (head_.size() == kHeadBytes || lf != std::string_view::npos) classify(sink);
    }
    if (begun_ && !part.empty()) sink.bytes(part);
    if (lf == std::string_view::npos) return;
    sink.end();
    begun_ = false;
    bytes.remove_prefix(lf + 1);
  }
}

}  // namespace sidecar
