// One published event, encoded to SSE wire bytes once and shared read-only by every subscriber
// and by history. Immutable after construction, so any thread may read it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sidecar/core/event_draft.hpp"
#include "sidecar/core/event_id.hpp"
#include "sidecar/core/ref.hpp"

namespace sidecar {

class Event final : public RefCounted {
 public:
  using Clock = std::chrono::steady_clock;

  static Ref<Event> create(EventId id, const EventDraft& draft, Clock::time_point published);
  // An event kept across a restart: `frame` is its plain() bytes as saved.
  static Ref<Event> restore(EventId id, std::vector<std::string> topics, std::string_view frame,
                            Clock::time_point published);

  const EventId& id() const { return id_; }
  const std::vector<std::string>& topics() const { return topics_; }
  Clock::time_point published() const { return published_; }

  // The SSE frame, for HTTP/1.0 streams (delimited by connection close).
  std::string_view plain() const {
    return std::string_view(wire_).substr(plain_offset_, plain_size_);
  }
  // The same frame wrapped as one HTTP/1.1 chunk.
  std::string_view chunked() const { return wire_; }
  // Bytes one subscriber holds for this event (used for history and buffer accounting).
  std::size_t size() const { return plain_size_; }
  // What keeping this event alive costs in the heap: the object, its frame and its topic
  // names, with the allocator's overhead (history.max_total_bytes counts this).
  std::size_t memory() const;

 private:
  friend class RefCounted;
  Event() = default;
  ~Event() = default;
  void set_frame(std::string_view frame);

  EventId id_;
  std::vector<std::string> topics_;
  Clock::time_point published_;
  std::string wire_;
  std::size_t plain_offset_ = 0;
  std::size_t plain_size_ = 0;
};

using EventRef = Ref<Event>;

}  // namespace sidecar
