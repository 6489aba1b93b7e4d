#include "sidecar/hub/memory_engine.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <thread>

#include "topic_patterns.hpp"

using namespace sidecar;
using namespace std::chrono_literals;
using sidecar::test::patterns;

namespace {

constexpr std::uint64_t kEpoch = 1700000000123;

// The hub's side of the engine: records every committed event, and may look at the engine
// while an event is being delivered.
struct RecordingSink : EventSink {
  std::vector<EventRef> delivered;
  std::function<void(const EventRef&)> on_deliver;

  void deliver(const EventRef& event) override {
    delivered.push_back(event);
    if (on_deliver) on_deliver(event);
  }
  void disconnect(const std::string& subject, const std::string& topic) override {
    disconnects.emplace_back(subject, topic);
  }
  std::vector<std::pair<std::string, std::string>> disconnects;
};

HistoryConfig bounds(std::size_t max_events = 100, std::size_t max_bytes = 1 << 20,
                     std::chrono::milliseconds max_age = 60s) {
  return HistoryConfig{max_events, max_bytes, max_age};
}

PublishOutcome publish(Engine& engine, std::vector<std::string> topics, std::string data = "x",
                       std::string name = "") {
  std::optional<PublishOutcome> outcome;
  engine.publish(EventDraft{std::move(topics), std::move(name), std::move(data), std::nullopt},
                 [&](PublishOutcome o) { outcome = std::move(o); });
  REQUIRE(outcome);  // the memory engine commits before publish() returns
  return *outcome;
}

Replay replay(Engine& engine, std::initializer_list<const char*> topics, const std::string& last) {
  std::optional<Replay> out;
  engine.replay(patterns(topics), last, [&](Replay r) { out = std::move(r); });
  REQUIRE(out);
  return *out;
}

std::vector<std::uint64_t> seqs(const std::vector<EventRef>& events) {
  std::vector<std::uint64_t> out;
  out.reserve(events.size());
  for (const auto& e : events) out.push_back(e->id().seq);
  return out;
}

std::string id(std::uint64_t seq, std::uint64_t epoch = kEpoch) {
  return EventId{epoch, seq}.to_string();
}

using Seqs = std::vector<std::uint64_t>;

}  // namespace

TEST_CASE("ids are <epoch>-<seq>, from 1, one more per event", "[memory_engine]") {
  RecordingSink sink;
  MemoryEngine engine(kEpoch, bounds(), sink);
  CHECK(engine.newest() == EventId{kEpoch, 0});
  for (std::uint64_t seq = 1; seq <= 5; ++seq) {
    auto outcome = publish(engine, {seq % 2 ? "a" : "b"});
    CHECK(outcome.ok);
    CHECK(outcome.error.empty());
    CHECK(outcome.id == EventId{kEpoch, seq});
    CHECK(engine.newest() == outcome.id);
  }
  // An event on several topics takes one id.
  CHECK(publish(engine, {"a", "b", "c"}).id == EventId{kEpoch, 6});
  CHECK(engine.newest().to_string() == "1700000000123-6");
}

TEST_CASE("every event reaches the sink once, encoded with its id", "[memory_engine]") {
  RecordingSink sink;
  MemoryEngine engine(kEpoch, bounds(), sink);
  publish(engine, {"chat.room1", "chat.room2"}, "hello\nworld", "message.new");
  publish(engine, {"chat.room1"}, "");
  REQUIRE(sink.delivered.size() == 2);
  const EventRef& first = sink.delivered[0];
  CHECK(first->id() == EventId{kEpoch, 1});
  CHECK(first->topics() == std::vector<std::string>{"chat.room1", "chat.room2"});
  CHECK(first->plain() == "id: 1700000000123-1\nevent: message.new\ndata: hello\ndata: world\n\n");
  CHECK(sink.delivered[1]->plain() == "id: 1700000000123-2\ndata:\n\n");
}

TEST_CASE("an event is in history and newest() before the sink sees it", "[memory_engine]") {
  RecordingSink sink;
  MemoryEngine engine(kEpoch, bounds(), sink);
  publish(engine, {"a"});
  std::optional<Replay> seen;
  EventId newest_then;
  sink.on_deliver = [&](const EventRef& event) {
    newest_then = engine.newest();
    engine.replay(patterns({"a"}), id(event->id().seq - 1), [&](Replay r) { seen = std::move(r); });
  };
  publish(engine, {"a"});
  REQUIRE(seen);
  CHECK_FALSE(seen->missed);
  CHECK(seqs(seen->events) == Seqs{2});
  CHECK(newest_then == EventId{kEpoch, 2});
}

TEST_CASE("replay: the events after an id on the requested topics, in order, each once",
          "[memory_engine]") {
  RecordingSink sink;
  MemoryEngine engine(kEpoch, bounds(), sink);
  publish(engine, {"a"});                   // 1
  publish(engine, {"b"});                   // 2
  publish(engine, {"a", "b"});              // 3
  publish(engine, {"other"});               // 4
  publish(engine, {"room.1"});              // 5
  publish(engine, {"room.2.x"});            // 6
  publish(engine, {"roomy"});               // 7
  publish(engine, {"b", "room.1", "zzz"});  // 8

  auto r = replay(engine, {"a", "b"}, id(0));
  CHECK_FALSE(r.missed);
  CHECK(seqs(r.events) == Seqs{1, 2, 3, 8});
  CHECK(r.newest == EventId{kEpoch, 8});
  CHECK(seqs(replay(engine, {"a", "b"}, id(2)).events) == Seqs{3, 8});
  CHECK(seqs(replay(engine, {"a"}, id(1)).events) == Seqs{3});
  // Patterns: everything below the prefix, at any depth, and nothing beside it.
  CHECK(seqs(replay(engine, {"room.*"}, id(0)).events) == Seqs{5, 6, 8});
  CHECK(seqs(replay(engine, {"room.*", "b"}, id(5)).events) == Seqs{6, 8});
  CHECK(seqs(replay(engine, {"*"}, id(3)).events) == Seqs{4, 5, 6, 7, 8});
  // Topics never published to: nothing, and nothing missed.
  auto none = replay(engine, {"nothing.here", "nothing.*"}, id(0));
  CHECK_FALSE(none.missed);
  CHECK(none.events.empty());
}

TEST_CASE("replay from the newest id is empty and complete", "[memory_engine]") {
  RecordingSink sink;
  MemoryEngine engine(kEpoch, bounds(), sink);
  SECTION("before any event") {
    auto r = replay(engine, {"a"}, id(0));
    CHECK_FALSE(r.missed);
    CHECK(r.events.empty());
    CHECK(r.newest == EventId{kEpoch, 0});
  }
  SECTION("after events") {
    publish(engine, {"a"});
    publish(engine, {"a"});
    auto r = replay(engine, {"a"}, engine.newest().to_string());
    CHECK_FALSE(r.missed);
    CHECK(r.events.empty());
    CHECK(r.newest == EventId{kEpoch, 2});
  }
}

TEST_CASE("ids that cannot be honoured are missed, with the newest id to start from",
          "[memory_engine]") {
  RecordingSink sink;
  MemoryEngine engine(kEpoch, bounds(), sink);
  publish(engine, {"a"});
  publish(engine, {"a"});
  for (const std::string& last : {id(1, kEpoch - 1),  // an earlier run
                                  id(1, kEpoch + 1),  // a later epoch
                                  id(3),              // from the future
                                  std::string("garbage"), std::string(""),
                                  std::string("1700000000123"), std::string(" 1700000000123-1")}) {
    INFO(last);
    auto r = replay(engine, {"a"}, last);
    CHECK(r.missed);
    CHECK(r.events.empty());
    CHECK(r.newest == EventId{kEpoch, 2});
  }
  CHECK_FALSE(replay(engine, {"a"}, id(1)).missed);
}

TEST_CASE("history keeps max_events per topic; a resume from before them is missed",
          "[memory_engine]") {
  RecordingSink sink;
  MemoryEngine engine(kEpoch, bounds(3), sink);
  for (int i = 0; i < 5; ++i) publish(engine, {"a"});  // 1..5
  publish(engine, {"b"});                              // 6
  CHECK(engine.stats().events == 4);
  CHECK(engine.stats().topics == 2);
  auto gone = replay(engine, {"a"}, id(1));  // 2 was evicted
  CHECK(gone.missed);
  CHECK(gone.events.empty());
  CHECK(gone.newest == EventId{kEpoch, 6});
  // From the last evicted id on, nothing is missing.
  auto ok = replay(engine, {"a"}, id(2));
  CHECK_FALSE(ok.missed);
  CHECK(seqs(ok.events) == Seqs{3, 4, 5});
  // The other topic's history is whole; asked together, one missing part spoils the replay.
  CHECK_FALSE(replay(engine, {"b"}, id(0)).missed);
  CHECK(replay(engine, {"a", "b"}, id(1)).missed);
  CHECK(replay(engine, {"*"}, id(1)).missed);
}

TEST_CASE("history keeps max_bytes per topic", "[memory_engine]") {
  RecordingSink sink;
  const std::string data(50, 'd');
  // Every event below has a one-digit seq, so all have this size.
  const std::size_t size =
      Event::create(EventId{kEpoch, 1}, EventDraft{{"a"}, "", data, std::nullopt}, {})->size();
  REQUIRE(size == std::string("id: 1700000000123-1\ndata: \n\n").size() + data.size());

  SECTION("exactly three fit") {
    MemoryEngine engine(kEpoch, bounds(100, 3 * size), sink);
    for (int i = 0; i < 6; ++i) publish(engine, {"a"}, data);
    CHECK(engine.stats().events == 3);
    CHECK(engine.stats().bytes == 3 * size);
    CHECK(seqs(replay(engine, {"a"}, id(3)).events) == Seqs{4, 5, 6});
    CHECK(replay(engine, {"a"}, id(2)).missed);
  }
  SECTION("one byte less and only two do") {
    MemoryEngine engine(kEpoch, bounds(100, 3 * size - 1), sink);
    for (int i = 0; i < 6; ++i) publish(engine, {"a"}, data);
    CHECK(engine.stats().events == 2);
    CHECK(engine.stats().bytes == 2 * size);
    CHECK(seqs(replay(engine, {"a"}, id(4)).events) == Seqs{5, 6});
  }
  SECTION("an event larger than the bound is not retained, and its topic's resume misses") {
    MemoryEngine engine(kEpoch, bounds(100, size - 1), sink);
    publish(engine, {"a"}, data);
    CHECK(engine.stats().events == 0);
    CHECK(sink.delivered.size() == 1);  // still delivered live
    CHECK(replay(engine, {"a"}, id(0)).missed);
  }
}

TEST_CASE("history drops events older than max_age at expire()", "[memory_engine]") {
  RecordingSink sink;
  MemoryEngine engine(kEpoch, bounds(100, 1 << 20, 100ms), sink);
  publish(engine, {"a"});  // 1
  publish(engine, {"b"});  // 2
  engine.expire();         // nothing is old yet
  CHECK(engine.stats().events == 2);
  std::this_thread::sleep_for(150ms);
  publish(engine, {"b"});  // 3, fresh
  engine.expire();
  CHECK(engine.stats().events == 1);
  CHECK(replay(engine, {"a"}, id(0)).missed);
  CHECK_FALSE(replay(engine, {"a"}, id(1)).missed);
  auto b = replay(engine, {"b"}, id(2));
  CHECK_FALSE(b.missed);
  CHECK(seqs(b.events) == Seqs{3});
}

TEST_CASE("configure() applies new bounds to what is retained", "[memory_engine]") {
  RecordingSink sink;
  MemoryEngine engine(kEpoch, bounds(), sink);
  for (int i = 0; i < 5; ++i) publish(engine, {"a"});
  CHECK(engine.stats().events == 5);
  engine.configure(bounds(2));
  CHECK(engine.stats().events == 2);
  CHECK(replay(engine, {"a"}, id(2)).missed);
  CHECK(seqs(replay(engine, {"a"}, id(3)).events) == Seqs{4, 5});
  // The new bound holds for later events too; ids go on.
  CHECK(publish(engine, {"a"}).id == EventId{kEpoch, 6});
  CHECK(engine.stats().events == 2);
}

TEST_CASE("stats count an event once per topic it is on", "[memory_engine]") {
  RecordingSink sink;
  MemoryEngine engine(kEpoch, bounds(), sink);
  publish(engine, {"a", "b", "c"});
  auto stats = engine.stats();
  CHECK(stats.topics == 3);
  CHECK(stats.events == 3);
  CHECK(stats.bytes == 3 * sink.delivered.at(0)->size());
}

TEST_CASE("save() and a restored engine continue the run: epoch, ids and history",
          "[memory_engine]") {
  RecordingSink sink;
  MemoryEngine first(kEpoch, bounds(), sink);
  publish(first, {"a"});       // 1
  publish(first, {"a", "b"});  // 2
  publish(first, {"c"});       // 3
  auto saved = first.save();
  REQUIRE(saved);
  CHECK(saved->epoch == kEpoch);
  CHECK(saved->last_seq == 3);
  CHECK(seqs(saved->history.events) == Seqs{1, 2, 3});  // each once

  RecordingSink next_sink;
  const std::uint64_t later = kEpoch + 60000;
  MemoryEngine next(later, bounds(), next_sink, &*saved);
  CHECK(next.newest() == EventId{kEpoch, 3});
  CHECK(next.stats().events == first.stats().events);
  CHECK(next.stats().topics == 3);
  CHECK(next_sink.delivered.empty());  // restoring delivers nothing

  auto r = replay(next, {"a", "b"}, id(1));
  CHECK_FALSE(r.missed);
  CHECK(seqs(r.events) == Seqs{2});
  CHECK(r.events[0]->plain() == "id: 1700000000123-2\ndata: x\n\n");

  CHECK(publish(next, {"a"}).id == EventId{kEpoch, 4});
  CHECK(seqs(replay(next, {"a"}, id(0)).events) == Seqs{1, 2, 4});
  // The epoch the restored engine was given is not its own.
  CHECK(replay(next, {"a"}, id(0, later)).missed);
}

TEST_CASE("a restored engine remembers what had been evicted", "[memory_engine]") {
  RecordingSink sink;
  MemoryEngine first(kEpoch, bounds(2), sink);
  for (int i = 0; i < 4; ++i) publish(first, {"a"});  // 1, 2 evicted
  auto saved = first.save();
  REQUIRE(saved);
  REQUIRE(saved->history.horizons.size() == 1);
  CHECK(saved->history.horizons[0].topic == "a");
  CHECK(saved->history.horizons[0].evicted_seq == 2);

  MemoryEngine next(kEpoch + 1, bounds(2), sink, &*saved);
  CHECK(replay(next, {"a"}, id(1)).missed);
  CHECK(seqs(replay(next, {"a"}, id(2)).events) == Seqs{3, 4});
}

TEST_CASE("a restored engine keeps its own bounds", "[memory_engine]") {
  RecordingSink sink;
  MemoryEngine first(kEpoch, bounds(), sink);
  for (int i = 0; i < 5; ++i) publish(first, {"a"});
  auto saved = first.save();
  REQUIRE(saved);
  MemoryEngine next(kEpoch + 1, bounds(2), sink, &*saved);
  CHECK(next.stats().events == 2);
  CHECK(replay(next, {"a"}, id(2)).missed);
  CHECK(seqs(replay(next, {"a"}, id(3)).events) == Seqs{4, 5});
  CHECK(next.newest() == EventId{kEpoch, 5});
}

TEST_CASE("saving an engine that published nothing restores to the same start", "[memory_engine]") {
  RecordingSink sink;
  MemoryEngine first(kEpoch, bounds(), sink);
  auto saved = first.save();
  REQUIRE(saved);
  CHECK(saved->last_seq == 0);
  CHECK(saved->history.events.empty());
  MemoryEngine next(kEpoch + 1, bounds(), sink, &*saved);
  CHECK(next.newest() == EventId{kEpoch, 0});
  CHECK(publish(next, {"a"}).id == EventId{kEpoch, 1});
}

TEST_CASE("memory engine: a disconnect reaches this node's sink at once") {
  RecordingSink sink;
  MemoryEngine engine(kEpoch, bounds(), sink);
  CHECK(engine.disconnect("alice", "chat.room1"));
  REQUIRE(sink.disconnects.size() == 1);
  CHECK(sink.disconnects[0] == std::make_pair(std::string("alice"), std::string("chat.room1")));
}

TEST_CASE("memory engine: a retry with the same idempotency key gets the first id, no event") {
  RecordingSink sink;
  MemoryEngine engine(kEpoch, bounds(), sink);
  auto keyed = [&](const std::string& key, const std::string& data) {
    std::optional<PublishOutcome> outcome;
    EventDraft draft{{"orders"}, "", data, std::nullopt};
    draft.idempotency_key = key;
    engine.publish(std::move(draft), [&](PublishOutcome o) { outcome = std::move(o); });
    REQUIRE(outcome);
    return *outcome;
  };
  auto first = keyed("order-1", "placed");
  CHECK_FALSE(first.duplicate);
  auto retry = keyed("order-1", "placed");
  CHECK(retry.ok);
  CHECK(retry.duplicate);
  CHECK(retry.id == first.id);
  auto other = keyed("order-2", "placed");
  CHECK_FALSE(other.duplicate);
  CHECK(other.id.seq == first.id.seq + 1);
  CHECK(sink.delivered.size() == 2);                              // the retry made no event
  CHECK(publish(engine, {"orders"}).id.seq == other.id.seq + 1);  // unkeyed: always new
}

TEST_CASE("memory engine: an idempotency key is forgotten after history.max_age") {
  RecordingSink sink;
  MemoryEngine engine(kEpoch, bounds(100, 1 << 20, 50ms), sink);
  auto keyed = [&]() {
    std::optional<PublishOutcome> outcome;
    EventDraft draft{{"orders"}, "", "x", std::nullopt};
    draft.idempotency_key = "k";
    engine.publish(std::move(draft), [&](PublishOutcome o) { outcome = std::move(o); });
    return *outcome;
  };
  auto first = keyed();
  std::this_thread::sleep_for(80ms);
  auto later = keyed();
  CHECK_FALSE(later.duplicate);
  CHECK(later.id.seq == first.id.seq + 1);
}
