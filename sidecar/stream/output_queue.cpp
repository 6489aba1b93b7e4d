#include "sidecar/stream/output_queue.hpp"

#include <sys/uio.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <string>

namespace sidecar {
namespace {

// Slices per writev: IOV_MAX is the kernel's limit; a burst is usually one slice anyway.
constexpr std::size_t kMaxIov = std::min<std::size_t>(IOV_MAX, 256);
// A queue that grew this large during a burst gives its memory back once it empties, so a spike
// does not stay resident in every stream that lived through it.
constexpr std::size_t kKeepCapacity = 8;

}  // namespace

void OutputQueue::append(FrameSegment& segment, std::string_view bytes, std::uint32_t events) {
  if (bytes.empty()) return;
  if (head_ < entries_.size()) {
    Entry& last = entries_.back();
    // The next frame of the same segment: the slice grows instead of adding an entry (while
    // its size still fits the entry).
    if (last.owner == &segment && last.data + last.size == bytes.data() &&
        std::size_t{last.size} + bytes.size() <= UINT32_MAX) {
      last.size += static_cast<std::uint32_t>(bytes.size());
      last.events += events;
      bytes_ += bytes.size();
      events_ += events;
      return;
    }
  }
  segment.retain();
  push(bytes.data(), bytes.size(), events, &segment);
}

void OutputQueue::append_copy(std::string_view bytes) {
  if (bytes.empty()) return;
  FrameSegment* segment = FrameSegment::owning(std::string(bytes));
  segment->retain();
  push(segment->bytes().data(), bytes.size(), 0, segment);
}

void OutputQueue::append_static(std::string_view bytes) {
  if (!bytes.empty()) push(bytes.data(), bytes.size(), 0, nullptr);
}

void OutputQueue::push(const char* data, std::size_t size, std::uint32_t events,
                       FrameSegment* owner) {
  static_assert(sizeof(Entry) == kEntryCost, "the bound counts an entry at its real size");
  entries_.push_back(Entry{data, static_cast<std::uint32_t>(size), events, owner});
  bytes_ += size;
  events_ += events;
}

ssize_t OutputQueue::write_to(int fd) {
  iovec iov[kMaxIov];
  std::size_t count = std::min(entries_.size() - head_, kMaxIov);
  for (std::size_t i = 0; i < count; ++i) {
    const Entry& e = entries_[head_ + i];
    iov[i].iov_base = const_cast<char*>(e.data);
    iov[i].iov_len = e.size;
  }
  ssize_t n = ::writev(fd, iov, static_cast<int>(count));
  if (n > 0) consume(static_cast<std::size_t>(n));
  return n;
}

std::size_t OutputQueue::peek(char* buf, std::size_t size) const {
  std::size_t copied = 0;
  for (std::size_t i = head_; i < entries_.size() && copied < size; ++i) {
    const Entry& e = entries_[i];
    std::size_t take = std::min<std::size_t>(e.size, size - copied);
    std::memcpy(buf + copied, e.data, take);
    copied += take;
  }
  return copied;
}

void OutputQueue::consume(std::size_t n) {
  bytes_ -= n;
  while (n > 0) {
    Entry& e = entries_[head_];
    if (n < e.size) {
      e.data += n;
      e.size -= n;
      return;
    }
    n -= e.size;
    events_ -= e.events;
    if (e.owner) e.owner->release();
    ++head_;
  }
  if (head_ == entries_.size()) {
    if (entries_.capacity() > kKeepCapacity) {
      std::vector<Entry>().swap(entries_);
    } else {
      entries_.clear();
    }
    head_ = 0;
  } else if (head_ >= 64 && head_ * 2 >= entries_.size()) {
    // A stream that never quite empties still reuses the front of its queue.
    entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
}

void OutputQueue::clear() {
  for (std::size_t i = head_; i < entries_.size(); ++i) {
    if (entries_[i].owner) entries_[i].owner->release();
  }
  std::vector<Entry>().swap(entries_);
  head_ = 0;
  bytes_ = 0;
  events_ = 0;
}

}  // namespace sidecar
