#include "sidecar/hub/memory_engine.hpp"

namespace sidecar {

MemoryEngine::MemoryEngine(std::uint64_t epoch, const HistoryConfig& history, EventSink& sink,
                           const SavedState* restored)
    : epoch_(restored ? restored->epoch : epoch),
      sink_(sink),
      history_(epoch_, history),
      key_window_(history.max_age) {
  if (!restored) return;
  history_.restore(restored->history);
  last_seq_.store(restored->last_seq, std::memory_order_release);
}

std::optional<SavedState> MemoryEngine::save() const {
  return SavedState{epoch_, last_seq_.load(std::memory_order_acquire), history_.snapshot()};
}

namespace {
constexpr std::size_t kMaxIdempotencyKeys = 100000;
}  // namespace

void MemoryEngine::publish(EventDraft draft, PublishDone done) {
  if (!draft.idempotency_key.empty()) {
    auto now = Event::Clock::now();
    while (!keyed_.empty() &&
           (now - keyed_.front().at > key_window_ || keyed_.size() > kMaxIdempotencyKeys)) {
      keys_.erase(keyed_.front().key);
      keyed_.pop_front();
    }
    if (auto it = keys_.find(draft.idempotency_key); it != keys_.end()) {
      return done(PublishOutcome{true, EventId{epoch_, it->second}, true, {}});
    }
  }
  EventId id{epoch_, last_seq_.load(std::memory_order_relaxed) + 1};
  if (!draft.idempotency_key.empty()) {
    keys_.emplace(draft.idempotency_key, id.seq);
    keyed_.push_back(Keyed{draft.idempotency_key, id.seq, Event::Clock::now()});
  }
  EventRef event = Event::create(id, draft, Event::Clock::now());
  // History first, then the sink: a worker that subscribes in between finds the event in
  // history and skips the live copy by id, so it is neither lost nor sent twice.
  history_.append(event);
  last_seq_.store(id.seq, std::memory_order_release);
  sink_.deliver(event);
  done(PublishOutcome{true, id, false, {}});
}

void MemoryEngine::replay(const std::vector<TopicPattern>& patterns, std::string_view last_id,
                          ReplayDone done) {
  done(history_.since(patterns, last_id, last_seq_.load(std::memory_order_acquire)));
}

void MemoryEngine::latest(const std::vector<TopicPattern>& patterns, std::size_t per_topic,
                          EventId up_to, ReplayDone done) {
  done(history_.latest(patterns, per_topic, up_to));
}

EventId MemoryEngine::newest() const {
  return EventId{epoch_, last_seq_.load(std::memory_order_acquire)};
}

void MemoryEngine::expire() {
  history_.expire(Event::Clock::now());
}

void MemoryEngine::configure(const HistoryConfig& history) {
  history_.set_limits(history);
  key_window_ = history.max_age;
}

HistoryStats MemoryEngine::stats() const {
  return history_.stats();
}

}  // namespace sidecar
