#include "sidecar/presence/presence_tracker.hpp"

#include <catch2/catch.hpp>

#include "tests/unit/topic_patterns.hpp"

using namespace sidecar;
using sidecar::test::patterns;

namespace {

PresenceConfig chat_rules() {
  PresenceConfig config;
  config.rules.push_back({{"chat.*"}, "presence.{topic}", true});
  config.rules.push_back({{"doc.*"}, "", true});
  return config;
}

// "join chat.lobby alice -> presence.chat.lobby" for each change taken.
std::vector<std::string> describe(PresenceTracker& tracker) {
  std::vector<std::string> out;
  for (const auto& c : tracker.take()) {
    out.push_back(std::string(to_string(c.action)) + " " + c.topic + " " + c.subject + " -> " +
                  (c.event_topic.empty() ? "(none)" : c.event_topic) +
                  (c.webhook ? " +webhook" : ""));
  }
  return out;
}

}  // namespace

TEST_CASE("presence is off without rules") {
  PresenceTracker tracker;
  CHECK_FALSE(tracker.enabled());
  CHECK(tracker.join("alice", patterns({"chat.lobby"})).empty());
  CHECK(tracker.take().empty());
  tracker.configure(chat_rules());
  CHECK(tracker.enabled());
}

TEST_CASE("the first stream of a subject joins, its last one leaves") {
  int notified = 0;
  PresenceTracker tracker([&] { ++notified; });
  tracker.configure(chat_rules());

  auto first = tracker.join("alice", patterns({"chat.lobby", "news"}));
  CHECK(first == std::vector<std::string>{"chat.lobby"});  // news matches no rule
  auto second = tracker.join("alice", patterns({"chat.lobby"}));
  tracker.join("bob", patterns({"chat.lobby"}));
  CHECK(notified == 1);  // one wakeup until the changes are taken
  CHECK(describe(tracker) ==
        std::vector<std::string>{"join chat.lobby alice -> presence.chat.lobby +webhook",
                                 "join chat.lobby bob -> presence.chat.lobby +webhook"});
  CHECK(tracker.subjects("chat.lobby") == std::vector<std::string>{"alice", "bob"});

  tracker.leave("alice", first);
  CHECK(tracker.take().empty());  // alice still has a stream there
  tracker.leave("alice", second);
  CHECK(notified == 2);
  CHECK(describe(tracker) ==
        std::vector<std::string>{"leave chat.lobby alice -> presence.chat.lobby +webhook"});
  CHECK(tracker.subjects("chat.lobby") == std::vector<std::string>{"bob"});
}

TEST_CASE("pattern subscriptions are not presence, and the first matching rule wins") {
  PresenceTracker tracker;
  tracker.configure(chat_rules());
  CHECK(tracker.join("alice", patterns({"chat.*", "*"})).empty());
  tracker.join("carol", patterns({"doc.readme"}));
  CHECK(describe(tracker) == std::vector<std::string>{"join doc.readme carol -> (none) +webhook"});
  CHECK(tracker.subjects("chat.lobby").empty());
  CHECK(tracker.subjects("unknown").empty());
}

TEST_CASE("a topic keeps the rule it started with across a reconfigure") {
  PresenceTracker tracker;
  tracker.configure(chat_rules());
  auto alice = tracker.join("alice", patterns({"chat.lobby"}));
  tracker.take();
  tracker.configure(PresenceConfig{});  // presence turned off by a reload
  CHECK_FALSE(tracker.enabled());
  tracker.leave("alice", alice);
  // The leave still matches the join that was reported.
  CHECK(describe(tracker) ==
        std::vector<std::string>{"leave chat.lobby alice -> presence.chat.lobby +webhook"});
}

TEST_CASE("an event topic that would be too long is not published") {
  PresenceConfig config;
  config.rules.push_back({{"*"}, "presence.{topic}", false});
  PresenceTracker tracker;
  tracker.configure(config);
  std::string topic(kMaxTopicBytes - 2, 'a');  // valid, but not with "presence." in front
  tracker.join("alice", patterns({topic.c_str()}));
  auto changes = tracker.take();
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].event_topic.empty());
  CHECK(changes[0].topic == topic);
}
