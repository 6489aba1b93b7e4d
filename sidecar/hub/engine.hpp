// The engine is where events get their ids, are retained and are made visible to every node's
// subscribers. The in-memory engine serves one node; a shared engine (e.g. Redis) would assign
// ids and keep history centrally and feed other nodes' events into the same sink.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "sidecar/config/config.hpp"
#include "sidecar/core/event_draft.hpp"
#include "sidecar/core/topic.hpp"
#include "sidecar/hub/history.hpp"
#include "sidecar/hub/state_file.hpp"
#include "sidecar/hub/topic_listing.hpp"
#include "sidecar/sse/event.hpp"

namespace sidecar {

// Receives every committed event (from this node or, for shared engines, from others) for local
// fan-out. Called on the hub's thread.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void deliver(const EventRef& event) = 0;
  // Events on `topics` (every topic when empty) may never be delivered: a shared engine lost
  // them (its data was lost, or history no longer covers an outage). Their streams are told
  // (`sidecar.missed`, with `newest` to resume from) instead of being left with a silent gap.
  virtual void missed(const std::vector<std::string>& topics, EventId newest) {
    (void)topics;
    (void)newest;
  }
  // The streams of `subject` (on `topic`, when not empty) are to end, here: the app asked
  // this node or, for a shared engine, any node.
  virtual void disconnect(const std::string& subject, const std::string& topic) = 0;
};

struct PublishOutcome {
  bool ok = false;
  EventId id;
  bool duplicate = false;  // its idempotency_key was seen: `id` is the first publish's
  std::string error;       // set when !ok
};

class Engine {
 public:
  using PublishDone = std::function<void(PublishOutcome)>;
  using ReplayDone = std::function<void(Replay)>;

  virtual ~Engine() = default;

  // Hub thread only. Assigns the id, retains the event and hands it to the sink, then calls
  // `done` exactly once; an engine may call it before returning.
  virtual void publish(EventDraft draft, PublishDone done) = 0;
  // Any thread. Calls `done` exactly once with the events after `last_id` on topics matched
  // by `patterns`; possibly on another thread, so callers must post the result to their loop.
  virtual void replay(const std::vector<TopicPattern>& patterns, std::string_view last_id,
                      ReplayDone done) = 0;
  // Any thread, called back as replay() is: the newest `per_topic` events with ids up to
  // `up_to` of each topic matched by `patterns`, each once, in id order (never `missed`). A
  // stream that asks for the latest value starts with them; `up_to` is where its live events
  // begin, so none comes twice. Nothing when `up_to` is of another epoch than history's.
  virtual void latest(const std::vector<TopicPattern>& patterns, std::size_t per_topic,
                      EventId up_to, ReplayDone done) = 0;
  // Any thread: the last id committed so far. A new stream starts after it, so it never
  // receives an event that was published (and counted) before it subscribed.
  virtual EventId newest() const = 0;
  // Hub thread only: periodic housekeeping and run-time reconfiguration.
  virtual void expire() = 0;
  virtual void configure(const HistoryConfig& history) = 0;
  virtual HistoryStats stats() const = 0;
  // Hub thread: the first `query.limit` topics by name that history tracks or that are in
  // `query.subscribed`, with their history figures, and how many match (see topic_listing.hpp);
  // nullopt when that cannot be known now (a shared engine is unreachable). `done` runs exactly
  // once, possibly before this returns.
  using TopicsDone = std::function<void(std::optional<TopicListing>)>;
  virtual void list_topics(TopicQuery query, TopicsDone done) = 0;
  // Hub thread, at a graceful stop: what the next start needs to continue this run's ids and
  // history. An engine that keeps them elsewhere (shared) has nothing to save.
  virtual std::optional<SavedState> save() const { return std::nullopt; }
  // Hub thread: ends the streams of `subject` (on `topic`) on every node the engine spans,
  // through the sink's disconnect(). False when that cannot be done now (engine unavailable).
  virtual bool disconnect(const std::string& subject, const std::string& topic) = 0;
  // Hub thread. Presence seen on this node: `join` is a subject's first stream here on `topic`,
  // !join its last one. `done(true)` when it changes the whole service's presence too (the
  // first stream anywhere, or the last), which is when it is to be reported. One node: always.
  // The callbacks are taken by value: engines that answer later keep them.
  virtual void presence(bool join, const std::string& topic, const std::string& subject,
                        std::function<void(bool global)> done) {  // NOLINT(*-value-param)
    (void)join;
    (void)topic;
    (void)subject;
    done(true);
  }
  // Hub thread: whether presence is kept for every node by the engine; then the subjects on
  // `topic` over every node come from presence_subjects() (sorted; nullopt when unavailable),
  // and leaves the engine finds for nodes that went away reach the presence listener.
  virtual bool shared_presence() const { return false; }
  virtual void presence_subjects(
      const std::string& topic,
      std::function<void(std::optional<std::vector<std::string>>)> done) {  // NOLINT(*-value-param)
    (void)topic;
    done(std::nullopt);
  }
  using PresenceListener =
      std::function<void(const std::string& topic, const std::string& subject)>;
  // NOLINTNEXTLINE(performance-unnecessary-value-param)
  virtual void set_presence_leaves(PresenceListener /*listener*/) {}
  // Hub thread: whether publishes can be committed now (a shared engine may be unreachable).
  virtual bool ready() const { return true; }
  // Hub thread: the engine's own Prometheus families (connection state, latency, errors).
  virtual std::string metrics_text() const { return {}; }
};

}  // namespace sidecar
