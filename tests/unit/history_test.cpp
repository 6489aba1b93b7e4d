#include "sidecar/hub/history.hpp"

#include <catch2/catch.hpp>

using namespace sidecar;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t kEpoch = 1000;

struct Fixture {
  HistoryConfig limits{100, 1 << 20, std::chrono::milliseconds(60000)};
  History history{kEpoch, limits};
  std::uint64_t seq = 0;
  Event::Clock::time_point now = Event::Clock::now();

  EventRef publish(std::vector<std::string> topics, std::string data = "x") {
    EventDraft draft{std::move(topics), "", std::move(data), std::nullopt};
    auto event = Event::create(EventId{kEpoch, ++seq}, draft, now);
    history.append(event);
    return event;
  }

  Replay since(std::vector<std::string> patterns, std::string last) {
    std::vector<TopicPattern> parsed;
    for (const auto& p : patterns) parsed.push_back(*TopicPattern::parse(p));
    return history.since(parsed, last, seq);
  }

  static std::vector<std::uint64_t> seqs(const Replay& r) {
    std::vector<std::uint64_t> out;
    for (const auto& e : r.events) out.push_back(e->id().seq);
    return out;
  }
};

std::string id(std::uint64_t seq) {
  return EventId{kEpoch, seq}.to_string();
}

}  // namespace

TEST_CASE_METHOD(Fixture, "resume returns exactly the missed events of the stream's topics") {
  publish({"a"});      // 1
  publish({"b"});      // 2
  publish({"other"});  // 3
  publish({"a"});      // 4
  publish({"b"});      // 5
  auto r = since({"a", "b"}, id(2));
  CHECK_FALSE(r.missed);
  CHECK(seqs(r) == std::vector<std::uint64_t>{4, 5});
  CHECK(seqs(since({"a", "b"}, id(5))).empty());
  CHECK(seqs(since({"a", "b"}, id(0))) == std::vector<std::uint64_t>{1, 2, 4, 5});
}

TEST_CASE_METHOD(Fixture, "an event on several topics is replayed once") {
  publish({"a", "b"});  // 1
  publish({"b"});       // 2
  auto r = since({"a", "b"}, id(0));
  CHECK(seqs(r) == std::vector<std::uint64_t>{1, 2});
}

TEST_CASE_METHOD(Fixture, "patterns replay every matching topic in id order") {
  publish({"stocks.A"});  // 1
  publish({"stocks.B"});  // 2
  publish({"stocksX"});   // 3
  publish({"stocks.A"});  // 4
  auto r = since({"stocks.*"}, id(0));
  CHECK(seqs(r) == std::vector<std::uint64_t>{1, 2, 4});
}

TEST_CASE_METHOD(Fixture, "count bound evicts the oldest and a resume past it reports a miss") {
  limits.max_events = 3;
  history.set_limits(limits);
  for (int i = 0; i < 10; ++i) publish({"a"});
  CHECK(history.stats().events == 3);
  auto r = since({"a"}, id(1));
  CHECK(r.missed);
  CHECK(r.events.empty());
  CHECK(r.newest == EventId{kEpoch, 10});
  // Resuming from inside what is retained is complete.
  auto ok = since({"a"}, id(7));
  CHECK_FALSE(ok.missed);
  CHECK(seqs(ok) == std::vector<std::uint64_t>{8, 9, 10});
}

TEST_CASE_METHOD(Fixture, "byte bound evicts the oldest") {
  limits.max_bytes = 100;
  history.set_limits(limits);
  for (int i = 0; i < 10; ++i) publish({"a"}, std::string(30, 'x'));
  auto stats = history.stats();
  CHECK(stats.bytes <= 100);
  CHECK(stats.events >= 1);
}

TEST_CASE_METHOD(Fixture, "age bound expires old events and remembers the gap") {
  publish({"a"});
  publish({"a"});
  history.expire(now + 61s);
  CHECK(history.stats().events == 0);
  CHECK(since({"a"}, id(1)).missed);
  // Long after, the empty topic is forgotten but a resume still reports the gap.
  history.expire(now + 200s);
  CHECK(history.stats().topics == 0);
  CHECK(since({"a"}, id(1)).missed);
}

TEST_CASE_METHOD(Fixture, "eviction on one topic does not spoil resume on another") {
  limits.max_events = 2;
  history.set_limits(limits);
  publish({"quiet"});  // 1
  for (int i = 0; i < 5; ++i) publish({"busy"});
  auto r = since({"quiet"}, id(1));
  CHECK_FALSE(r.missed);
  CHECK(r.events.empty());
}

TEST_CASE_METHOD(Fixture, "ids that cannot be honoured report a miss") {
  publish({"a"});
  CHECK(since({"a"}, "garbage").missed);
  CHECK(since({"a"}, "").missed);
  CHECK(since({"a"}, EventId{kEpoch - 1, 1}.to_string()).missed);  // an earlier run
  CHECK(since({"a"}, id(99)).missed);                              // from the future
  CHECK_FALSE(since({"a"}, id(1)).missed);
}

TEST_CASE("event ids round-trip and order") {
  EventId a{5, 9};
  CHECK(EventId::parse(a.to_string()) == a);
  CHECK(EventId{5, 9} < EventId{5, 10});
  CHECK(EventId{5, 99} < EventId{6, 1});
  CHECK_FALSE(EventId::parse("5"));
  CHECK_FALSE(EventId::parse("5-"));
  CHECK_FALSE(EventId::parse("-5"));
  CHECK_FALSE(EventId::parse("a-b"));
  CHECK_FALSE(EventId::parse("1-2-3"));
}
