#include "sidecar/hub/memory_engine.hpp"

namespace sidecar {

MemoryEngine::MemoryEngine(std::uint64_t epoch, const HistoryConfig& history, EventSink& sink,
                           const SavedState* restored)
    : epoch_(restored ? restored->epoch : epoch), sink_(sink), history_(epoch_, history) {
  if (!restored) return;
  history_.restore(restored->history);
  last_seq_.store(restored->last_seq, std::memory_order_release);
}

std::optional<SavedState> MemoryEngine::save() const {
  return SavedState{epoch_, last_seq_.load(std::memory_order_acquire), history_.snapshot()};
}

void MemoryEngine::publish(EventDraft draft, PublishDone done) {
  EventId id{epoch_, last_seq_.load(std::memory_order_relaxed) + 1};
  EventRef event = Event::create(id, draft, Event::Clock::now());
  // History first, then the sink: a worker that subscribes in between finds the event in
  // history and skips the live copy by id, so it is neither lost nor sent twice.
  history_.append(event);
  last_seq_.store(id.seq, std::memory_order_release);
  sink_.deliver(event);
  done(PublishOutcome{true, id, {}});
}

void MemoryEngine::replay(const std::vector<TopicPattern>& patterns, std::string_view last_id,
                          ReplayDone done) {
  done(history_.since(patterns, last_id, last_seq_.load(std::memory_order_acquire)));
}

EventId MemoryEngine::newest() const {
  return EventId{epoch_, last_seq_.load(std::memory_order_acquire)};
}

void MemoryEngine::expire() {
  history_.expire(Event::Clock::now());
}

void MemoryEngine::configure(const HistoryConfig& history) {
  history_.set_limits(history);
}

HistoryStats MemoryEngine::stats() const {
  return history_.stats();
}

}  // namespace sidecar
