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

  Replay since(const std::vector<std::string>& patterns, const std::string& last) {
    std::vector<TopicPattern> parsed;
    parsed.reserve(patterns.size());
    for (const auto& p : patterns) parsed.push_back(*TopicPattern::parse(p));
    return history.since(parsed, last, seq);
  }

  Replay latest(const std::vector<std::string>& patterns, std::size_t per_topic,
                std::uint64_t up_to) {
    std::vector<TopicPattern> parsed;
    parsed.reserve(patterns.size());
    for (const auto& p : patterns) parsed.push_back(*TopicPattern::parse(p));
    return history.latest(parsed, per_topic, EventId{kEpoch, up_to});
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

// ---- bounds over every topic ----

TEST_CASE_METHOD(Fixture, "max_total_bytes evicts the globally oldest event across topics") {
  publish({"a"});  // 1
  publish({"b"});  // 2
  publish({"c"});  // 3
  publish({"a"});  // 4
  publish({"b"});  // 5
  auto tighten = [&] {
    limits.max_total_bytes = history.stats().memory - 1;
    history.set_limits(limits);
  };
  tighten();  // one byte over: the oldest event, 1 on a, goes; a keeps 4
  CHECK(history.stats().events == 4);
  CHECK(since({"a"}, id(0)).missed);
  CHECK(seqs(since({"a"}, id(1))) == std::vector<std::uint64_t>{4});
  CHECK(seqs(since({"b"}, id(0))) == std::vector<std::uint64_t>{2, 5});
  tighten();  // then 2, on b
  CHECK(since({"b"}, id(1)).missed);
  CHECK(seqs(since({"b"}, id(2))) == std::vector<std::uint64_t>{5});
  CHECK(seqs(since({"c"}, id(0))) == std::vector<std::uint64_t>{3});
  tighten();  // then 3: c is left empty, remembered
  CHECK(history.stats().topics == 3);
  CHECK(since({"c"}, id(2)).missed);
  CHECK_FALSE(since({"c"}, id(3)).missed);
  tighten();  // an empty topic goes before any event: c is forgotten, 4 and 5 stay
  auto stats = history.stats();
  CHECK(stats.topics == 2);
  CHECK(stats.events == 2);
  CHECK(since({"c"}, id(2)).missed);  // its horizon outlives it
  CHECK_FALSE(since({"c"}, id(3)).missed);
  CHECK(stats.evicted[static_cast<std::size_t>(Eviction::kMaxTotalBytes)] == 3);
  CHECK(stats.forgotten[static_cast<std::size_t>(Eviction::kMaxTotalBytes)] == 1);
}

TEST_CASE_METHOD(Fixture, "max_total_bytes holds while topics churn, and a resume past it misses") {
  limits.max_total_bytes = std::size_t{256} * 1024;
  history.set_limits(limits);
  const std::string data(2048, 'd');
  for (int i = 0; i < 2000; ++i) {
    publish({"user." + std::to_string(i)}, data);
    REQUIRE(history.stats().memory <= limits.max_total_bytes);
  }
  auto stats = history.stats();
  // What is retained is the newest: about 100 events of 2 KiB fit in 256 KiB as they cost.
  CHECK(stats.events > 80);
  CHECK(stats.events < 125);
  CHECK(stats.memory > limits.max_total_bytes - 4096);
  CHECK(seqs(since({"user.1999"}, id(1999 - 1))) == std::vector<std::uint64_t>{2000});
  CHECK(since({"user.5"}, id(5)).missed);  // evicted, then forgotten
  CHECK(since({"user.5"}, id(1)).missed);
  CHECK(stats.evicted[static_cast<std::size_t>(Eviction::kMaxTotalBytes)] == 2000 - stats.events);
  CHECK(stats.forgotten[static_cast<std::size_t>(Eviction::kMaxTotalBytes)] == 2000 - stats.topics);
}

TEST_CASE_METHOD(Fixture, "memory counts what each event and topic really cost") {
  auto first = publish({"a"}, std::string(2000, 'x'));
  auto one = history.stats();
  CHECK(one.bytes == first->size());
  CHECK(first->memory() > first->size() + 100);  // the object, both framings, the topic list
  // A topic's own cost (tree node, slot, index entry) is a few hundred bytes.
  std::size_t topic_cost = one.memory - first->memory();
  CHECK(topic_cost > 100);
  CHECK(topic_cost < 512);
  // An event on several topics counts once per topic.
  auto both = publish({"a", "b"}, std::string(2000, 'x'));
  CHECK(history.stats().memory > one.memory + 2 * both->memory());
}

TEST_CASE_METHOD(Fixture, "accounting returns to zero when everything is dropped") {
  for (int i = 0; i < 50; ++i) publish({"t" + std::to_string(i % 7), "all"}, std::string(i, 'x'));
  CHECK(history.stats().memory > 0);
  history.expire(now + 61s);  // every event is older than max_age; the topics stay a while
  auto emptied = history.stats();
  CHECK(emptied.events == 0);
  CHECK(emptied.bytes == 0);
  CHECK(emptied.topics == 8);
  CHECK(emptied.memory > 0);
  history.expire(now + 200s);
  auto none = history.stats();
  CHECK(none.topics == 0);
  CHECK(none.memory == 0);
  CHECK(none.evicted[static_cast<std::size_t>(Eviction::kMaxAge)] == 100);
  CHECK(none.forgotten[static_cast<std::size_t>(Eviction::kMaxAge)] == 8);

  SECTION("and so with a total bound of 0") {
    publish({"a", "b"});
    limits.max_total_bytes = 0;
    history.set_limits(limits);
    CHECK(history.stats().memory == 0);
    CHECK(history.stats().topics == 0);
    publish({"c"});  // kept for no time at all
    CHECK(history.stats().memory == 0);
    CHECK(since({"c"}, id(seq - 1)).missed);
  }
}

TEST_CASE_METHOD(Fixture, "max_topics forgets the least recently published topic whole") {
  limits.max_topics = 3;
  history.set_limits(limits);
  publish({"a"});  // 1
  publish({"b"});  // 2
  publish({"c"});  // 3
  publish({"a"});  // 4: b is now the least recently published
  publish({"d"});  // 5
  auto stats = history.stats();
  CHECK(stats.topics == 3);
  CHECK(stats.events == 4);
  CHECK(stats.evicted[static_cast<std::size_t>(Eviction::kMaxTopics)] == 1);
  CHECK(stats.forgotten[static_cast<std::size_t>(Eviction::kMaxTopics)] == 1);
  CHECK(since({"b"}, id(1)).missed);
  CHECK_FALSE(since({"b"}, id(2)).missed);  // nothing after its last event was lost
  CHECK(seqs(since({"a", "c", "d"}, id(0))) == std::vector<std::uint64_t>{1, 3, 4, 5});
  // Published again, a forgotten topic starts from its horizon.
  publish({"b"});  // 6, forgets c
  CHECK(since({"b"}, id(1)).missed);
  CHECK(seqs(since({"b"}, id(2))) == std::vector<std::uint64_t>{6});
}

TEST_CASE_METHOD(Fixture, "max_topics forgets empty remembered topics first") {
  limits.max_topics = 3;
  limits.max_bytes = 100;
  history.set_limits(limits);
  publish({"a"});                         // 1
  publish({"b"});                         // 2
  publish({"x"}, std::string(200, 'x'));  // 3: over x's max_bytes, so x is left empty
  CHECK(history.stats().topics == 3);
  publish({"c"});  // 4: x goes, not a, the least recently published
  CHECK(seqs(since({"a", "b", "c"}, id(0))) == std::vector<std::uint64_t>{1, 2, 4});
  CHECK(since({"x"}, id(2)).missed);
  CHECK_FALSE(since({"x"}, id(3)).missed);
  CHECK(history.stats().evicted[static_cast<std::size_t>(Eviction::kMaxBytes)] == 1);
}

TEST_CASE_METHOD(Fixture, "a forgotten topic does not make untouched exact topics miss") {
  limits.max_topics = 10;
  history.set_limits(limits);
  // A client of "quiet" saw event 1; then 200 topics come and go while it is away.
  publish({"quiet.seen"});  // 1
  for (int i = 0; i < 200; ++i) publish({"user." + std::to_string(i)});
  CHECK(history.stats().topics == 10);
  // Every forgotten topic reports what it lost...
  for (int i = 0; i < 190; ++i) CHECK(since({"user." + std::to_string(i)}, id(1)).missed);
  // ...and topics nobody published to are complete, but for the few sharing a slot with one
  // of them (a single global horizon would make all of these miss).
  int missed = 0;
  for (int i = 0; i < 100; ++i) missed += since({"quiet." + std::to_string(i)}, id(1)).missed;
  CHECK(missed < 10);
  CHECK_FALSE(since({"quiet"}, id(1)).missed);
  // A pattern cannot tell which forgotten topics it matched: it reports the miss.
  CHECK(since({"quiet.*"}, id(1)).missed);
  CHECK_FALSE(since({"quiet.*"}, id(200)).missed);
}

TEST_CASE_METHOD(Fixture, "each eviction is counted by its bound") {
  limits.max_events = 2;
  limits.max_bytes = 100;
  history.set_limits(limits);
  for (int i = 0; i < 5; ++i) publish({"count"});  // 3 over max_events
  publish({"big"}, std::string(200, 'x'));         // 1 over max_bytes
  publish({"old"});
  history.expire(now + 61s);  // count's 2 and old's 1 are too old
  auto stats = history.stats();
  CHECK(stats.evicted[static_cast<std::size_t>(Eviction::kMaxEvents)] == 3);
  CHECK(stats.evicted[static_cast<std::size_t>(Eviction::kMaxBytes)] == 1);
  CHECK(stats.evicted[static_cast<std::size_t>(Eviction::kMaxAge)] == 3);
  CHECK(stats.events == 0);
}

TEST_CASE_METHOD(Fixture, "reloaded limits apply at once and keep the forgotten horizons") {
  for (int i = 0; i < 20; ++i) publish({"t" + std::to_string(i)});  // 1..20, t0 first
  limits.max_topics = 5;
  history.set_limits(limits);
  CHECK(history.stats().topics == 5);
  CHECK(since({"t0"}, id(0)).missed);
  CHECK(seqs(since({"t19"}, id(0))) == std::vector<std::uint64_t>{20});
  // Growing and shrinking the table of horizons loses none of them.
  for (std::size_t topics : {std::size_t{1} << 20, std::size_t{1}, std::size_t{100000}}) {
    limits.max_topics = topics;
    history.set_limits(limits);
    for (int i = 0; i < 15; ++i) {
      INFO(topics << " t" << i);
      CHECK(since({"t" + std::to_string(i)}, id(i)).missed);
    }
  }
  CHECK(history.stats().topics == 1);  // max_topics was 1 for a while
  limits.max_total_bytes = 0;
  history.set_limits(limits);
  CHECK(history.stats().memory == 0);
  CHECK(since({"t19"}, id(19)).missed);
}

TEST_CASE_METHOD(Fixture, "a restored history keeps forgotten topics' losses, conservatively") {
  limits.max_topics = 2;
  history.set_limits(limits);
  publish({"a"});  // 1
  publish({"b"});  // 2
  publish({"c"});  // 3: a is forgotten
  auto saved = history.snapshot();
  CHECK(saved.forgotten_seq == 1);
  History next(kEpoch, limits);
  next.restore(saved);
  auto replay = [&](const std::string& topic, std::uint64_t after) {
    return next.since({*TopicPattern::parse(topic)}, id(after), 3);
  };
  CHECK(replay("a", 0).missed);
  CHECK(replay("never", 0).missed);  // not known one by one after a restart
  CHECK_FALSE(replay("never", 1).missed);
  CHECK_FALSE(replay("b", 0).missed);  // tracked topics keep their own horizon
  CHECK(seqs(replay("c", 0)) == std::vector<std::uint64_t>{3});
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

TEST_CASE_METHOD(Fixture, "latest gives the newest events of each topic up to the live start") {
  publish({"a"});       // 1
  publish({"b"});       // 2
  publish({"a"});       // 3
  publish({"a", "b"});  // 4: on both, given once
  publish({"c"});       // 5: not asked for
  publish({"a"});       // 6: after the live start below
  CHECK(seqs(latest({"a", "b"}, 1, 5)) == std::vector<std::uint64_t>{4});
  CHECK(seqs(latest({"a", "b"}, 2, 5)) == std::vector<std::uint64_t>{2, 3, 4});
  CHECK(seqs(latest({"a"}, 10, 6)) == std::vector<std::uint64_t>{1, 3, 4, 6});
  CHECK(seqs(latest({"a"}, 1, 2)) == std::vector<std::uint64_t>{1});
  CHECK(latest({"a"}, 1, 0).events.empty());
  CHECK(latest({"nothing.here"}, 3, 6).events.empty());
  CHECK_FALSE(latest({"a"}, 1, 6).missed);
}

TEST_CASE_METHOD(Fixture, "latest over patterns takes each matching topic") {
  publish({"stock.acme"});    // 1
  publish({"stock.acme"});    // 2
  publish({"stock.globex"});  // 3
  publish({"stocky"});        // 4: not under stock.
  CHECK(seqs(latest({"stock.*"}, 1, 4)) == std::vector<std::uint64_t>{2, 3});
  CHECK(seqs(latest({"*"}, 1, 4)) == std::vector<std::uint64_t>{2, 3, 4});
}

TEST_CASE_METHOD(Fixture, "latest of another epoch gives nothing") {
  publish({"a"});
  std::vector<TopicPattern> a{*TopicPattern::parse("a")};
  CHECK(history.latest(a, 1, EventId{kEpoch + 1, 1}).events.empty());
  CHECK(history.latest(a, 1, EventId{kEpoch, 1}).events.size() == 1);
}

TEST_CASE_METHOD(Fixture, "topics are listed by name from a prefix, a page at a time") {
  publish({"chat.b"}, "12345");
  publish({"chat.a"});
  publish({"chat.a"});
  publish({"news"});
  TopicQuery query{"chat.", 10, {"chat.a", "chat.zz"}};
  auto all = history.list(query);
  REQUIRE(all.topics.size() == 3);
  CHECK(all.total == 3);
  CHECK(all.topics[0].topic == "chat.a");
  CHECK(all.topics[0].history_events == 2);
  CHECK(all.topics[0].last_publish_ms > 0);
  CHECK(all.topics[1].topic == "chat.b");
  CHECK(all.topics[1].history_bytes > 5);
  CHECK(all.topics[2].topic == "chat.zz");  // subscribed, no history
  CHECK(all.topics[2].history_events == 0);
  CHECK(all.topics[2].last_publish_ms == 0);

  query.limit = 1;
  auto first = history.list(query);
  REQUIRE(first.topics.size() == 1);
  CHECK(first.topics[0].topic == "chat.a");
  CHECK(first.total == 3);

  auto everything = history.list(TopicQuery{"", 10, {}});
  CHECK(everything.total == 3);
  CHECK(everything.topics.back().topic == "news");
}
