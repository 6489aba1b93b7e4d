#include "sidecar/presence/presence_reporter.hpp"

#include <spdlog/spdlog.h>
#include "sidecar/core/json_writer.hpp"

namespace sidecar {

PresenceReporter::PresenceReporter(event_base* base, Hub& hub, PresenceTracker& tracker,
                                   Metrics& metrics, const PresenceConfig& config)
    : hub_(hub),
      tracker_(tracker),
      metrics_(metrics),
      webhook_(base, metrics, config.webhook),
      wakeup_(base, [this] { report(); }) {
  tracker_.configure(config);
  tracker_.set_notify([this] { wakeup_.notify(); });
  hub_.engine().set_presence_leaves([this](const std::string& topic, const std::string& subject) {
    announce(tracker_.describe(PresenceChange::Action::kLeave, topic, subject));
  });
}

PresenceReporter::~PresenceReporter() {
  tracker_.set_notify(nullptr);
  hub_.engine().set_presence_leaves(nullptr);
}

void PresenceReporter::configure(const PresenceConfig& config) {
  tracker_.configure(config);
  webhook_.configure(config.webhook);
}

void PresenceReporter::report() {
  for (const PresenceChange& change : tracker_.take()) {
    bool join = change.action == PresenceChange::Action::kJoin;
    // In order: the engine answers in the order it was asked.
    hub_.engine().presence(join, change.topic, change.subject, [this, change](bool global) {
      if (global) announce(change);
    });
  }
}

void PresenceReporter::announce(const PresenceChange& change) {
  bool join = change.action == PresenceChange::Action::kJoin;
  (join ? metrics_.presence_joins : metrics_.presence_leaves)
      .fetch_add(1, std::memory_order_relaxed);
  if (change.webhook) webhook_.add(change);
  if (change.event_topic.empty()) return;
  rapidjson::StringBuffer json;
  JsonWriter w(json);
  w.StartObject();
  w.Key("topic");
  write_string(w, change.topic);
  w.Key("subject");
  write_string(w, change.subject);
  w.EndObject();
  EventDraft draft;
  draft.topics.push_back(change.event_topic);
  draft.name = join ? "sidecar.join" : "sidecar.leave";
  draft.data = json.GetString();
  hub_.publish(std::move(draft), [topic = change.event_topic](const PublishReply& reply) {
    if (!reply.ok) spdlog::warn("presence event on '{}' not published: {}", topic, reply.error);
  });
}

}  // namespace sidecar
