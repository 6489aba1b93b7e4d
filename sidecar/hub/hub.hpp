// The hub: the one place events enter (from ingest), get committed by the engine, and leave
// for the stream workers. Lives on the main loop; workers call only the thread-safe parts.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sidecar/core/metrics.hpp"
#include "sidecar/hub/engine.hpp"
#include "sidecar/hub/subscriber_counts.hpp"
#include "sidecar/hub/topic_activity.hpp"
#include "sidecar/net/libevent.hpp"

namespace sidecar {

using EventBatch = std::vector<EventRef>;

// A consumer of committed events on another thread (a stream worker). `post_events` is called
// on the hub's thread and must only queue the batch and wake the consumer's loop.
class EventListener {
 public:
  virtual ~EventListener() = default;
  virtual void post_events(std::shared_ptr<const EventBatch> batch) = 0;
  // See EventSink::missed; comes after every batch posted before it.
  virtual void post_missed(std::vector<std::string> topics, EventId newest) = 0;
};

struct PublishReply {
  bool ok = false;
  std::string id;
  bool duplicate = false;
  std::size_t subscribers = 0;
  std::string error;
};

class Hub final : public EventSink {
 public:
  using EngineFactory = std::function<std::unique_ptr<Engine>(EventSink&)>;

  Hub(event_base* base, Metrics& metrics, const EngineFactory& make_engine,
      std::size_t max_topics = HistoryConfig{}.max_topics);
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  // Hub thread; before the workers start.
  void add_listener(EventListener* listener) { listeners_.push_back(listener); }

  // Hub thread. `done` runs exactly once, possibly before this returns.
  void publish(EventDraft draft, std::function<void(PublishReply)> done);
  // Hub thread: housekeeping and reload.
  void expire();
  void configure(const HistoryConfig& history);
  HistoryStats history_stats() const { return engine_->stats(); }
  // Hub thread: a page of the topics by name from `prefix` on, with history figures from the
  // engine and this node's subscribers and activity (GET /topics); see topic_listing.hpp.
  void list_topics(std::string prefix, std::size_t limit, Engine::TopicsDone done);

  // Any thread.
  Engine& engine() { return *engine_; }
  SubscriberCounts& subscribers() { return subscribers_; }

  // EventSink: batches the events of one loop turn so each worker is woken once per turn.
  void deliver(const EventRef& event) override;
  void missed(const std::vector<std::string>& topics, EventId newest) override;
  void disconnect(const std::string& subject, const std::string& topic) override {
    if (on_disconnect_) on_disconnect_(subject, topic);
  }
  // Hub thread; before the workers start: what ending a subject's streams on this node takes.
  using Disconnect = std::function<void(const std::string& subject, const std::string& topic)>;
  void set_disconnect(Disconnect fn) { on_disconnect_ = std::move(fn); }

 private:
  static void on_flush(evutil_socket_t, short, void* self);
  void flush();

  Metrics& metrics_;
  std::unique_ptr<Engine> engine_;
  SubscriberCounts subscribers_;
  TopicActivity activity_;  // every delivered event's topics
  std::vector<EventListener*> listeners_;
  std::shared_ptr<EventBatch> pending_;
  EventPtr flush_event_;
  Disconnect on_disconnect_;
};

}  // namespace sidecar
