#include "sidecar/hub/hub.hpp"

namespace sidecar {

Hub::Hub(event_base* base, Metrics& metrics, const EngineFactory& make_engine)
    : metrics_(metrics),
      engine_(make_engine(*this)),
      flush_event_(event_new(base, -1, 0, &Hub::on_flush, this)) {}

void Hub::publish(EventDraft draft, std::function<void(PublishReply)> done) {
  // Counted as the event is published: the streams open at that moment are its audience.
  std::size_t subscribers = subscribers_.count(draft.topics);
  engine_->publish(std::move(draft),
                   [this, subscribers, done = std::move(done)](PublishOutcome outcome) {
                     PublishReply reply;
                     reply.ok = outcome.ok;
                     reply.error = std::move(outcome.error);
                     if (outcome.ok) {
                       if (!outcome.duplicate) {
                         metrics_.events_published.fetch_add(1, std::memory_order_relaxed);
                       }
                       reply.duplicate = outcome.duplicate;
                       reply.id = outcome.id.to_string();
                       reply.subscribers = subscribers;
                     }
                     done(std::move(reply));
                   });
}

void Hub::deliver(const EventRef& event) {
  if (!pending_) {
    pending_ = std::make_shared<EventBatch>();
    // Runs after the callbacks of this loop turn, so a burst of publishes from one read
    // reaches each worker as one batch with one wakeup.
    event_active(flush_event_.get(), EV_TIMEOUT, 0);
  }
  pending_->push_back(event);
}

void Hub::missed(const std::vector<std::string>& topics, EventId newest) {
  flush();  // what was delivered before the loss goes first
  for (auto* listener : listeners_) listener->post_missed(topics, newest);
}

void Hub::on_flush(evutil_socket_t, short, void* self) {
  static_cast<Hub*>(self)->flush();
}

void Hub::flush() {
  if (!pending_) return;
  std::shared_ptr<const EventBatch> batch = std::move(pending_);
  pending_.reset();
  for (auto* listener : listeners_) listener->post_events(batch);
}

}  // namespace sidecar
