#include "sidecar/hub/hub.hpp"

#include "sidecar/core/wall_clock.hpp"

namespace sidecar {

Hub::Hub(event_base* base, Metrics& metrics, const EngineFactory& make_engine,
         std::size_t max_topics)
    : metrics_(metrics),
      engine_(make_engine(*this)),
      activity_(max_topics),
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

void Hub::expire() {
  engine_->expire();
  activity_.expire(unix_ms());
}

void Hub::configure(const HistoryConfig& history) {
  engine_->configure(history);
  activity_.set_max_topics(history.max_topics);
}

void Hub::list_topics(std::string prefix, std::size_t limit, Engine::TopicsDone done) {
  TopicQuery query;
  query.subscribed = subscribers_.exact_topics(prefix);
  query.prefix = std::move(prefix);
  query.limit = limit;
  engine_->list_topics(std::move(query),
                       [this, done = std::move(done)](std::optional<TopicListing> listing) {
                         if (listing) {
                           const std::uint64_t now = unix_ms();
                           for (auto& t : listing->topics) {
                             t.subscribers = subscribers_.count_topic(t.topic);
                             TopicActivity::Figures seen = activity_.figures(t.topic, now);
                             t.publish_rate = seen.rate;
                             t.last_publish_ms = std::max(t.last_publish_ms, seen.last_ms);
                           }
                         }
                         done(std::move(listing));
                       });
}

void Hub::deliver(const EventRef& event) {
  // Every event this node fans out, its own or (with a shared engine) another node's.
  const std::uint64_t now = unix_ms();
  for (const auto& topic : event->topics()) activity_.record(topic, now);
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
