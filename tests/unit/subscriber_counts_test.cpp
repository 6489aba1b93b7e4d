#include "sidecar/hub/subscriber_counts.hpp"

#include <catch2/catch.hpp>

#include "tests/unit/topic_patterns.hpp"

using namespace sidecar;
using sidecar::test::patterns;

TEST_CASE("counts streams on exact topics and patterns") {
  SubscriberCounts counts;
  counts.add(patterns({"chat.room1"}));
  counts.add(patterns({"chat.room1", "news"}));
  counts.add(patterns({"chat.*"}));
  counts.add(patterns({"*"}));
  CHECK(counts.count({"chat.room1"}) == 4);
  CHECK(counts.count({"chat.room2"}) == 2);
  CHECK(counts.count({"news"}) == 2);
  CHECK(counts.count({"chat"}) == 1);
  counts.remove(patterns({"chat.*"}));
  counts.remove(patterns({"*"}));
  CHECK(counts.count({"chat.room2"}) == 0);
  CHECK(counts.count({"chat.room1"}) == 2);
}

TEST_CASE("a stream on several of an event's topics counts once") {
  SubscriberCounts counts;
  counts.add(patterns({"a", "b"}));
  counts.add(patterns({"a", "b"}));
  counts.add(patterns({"b", "c.*"}));
  counts.add(patterns({"a"}));
  counts.add(patterns({"c.*"}));
  CHECK(counts.count({"c.x", "c.y", "a"}) == 5);  // {c.*} and {b,c.*} once each, three on a
  counts.remove(patterns({"c.*"}));
  CHECK(counts.count({"a", "b"}) == 4);  // both {a,b} streams once, {b,c.*} once, {a} once
  CHECK(counts.count({"b", "c.x"}) == 3);
  CHECK(counts.count({"a", "b", "c.x"}) == 4);
  CHECK(counts.count({"c.x", "c.y"}) == 1);  // two topics, one pattern of one stream
  CHECK(counts.count({"a"}) == 3);
  counts.remove(patterns({"a", "b"}));
  counts.remove(patterns({"b", "c.*"}));
  CHECK(counts.count({"a", "b"}) == 2);
  CHECK(counts.count({"b", "c.x"}) == 1);
  counts.remove(patterns({"a", "b"}));
  CHECK(counts.count({"a", "b"}) == 1);
}

TEST_CASE("the exact topics streams subscribe to are listed in order, by prefix") {
  SubscriberCounts counts;
  counts.add(patterns({"chat.b"}));
  counts.add(patterns({"chat.a", "news"}));
  counts.add(patterns({"chat.a"}));
  counts.add(patterns({"chat.*"}));  // a pattern is not a topic
  CHECK(counts.exact_topics("") == std::vector<std::string>{"chat.a", "chat.b", "news"});
  CHECK(counts.exact_topics("chat.") == std::vector<std::string>{"chat.a", "chat.b"});
  CHECK(counts.count_topic("chat.a") == 3);
  counts.remove(patterns({"chat.a", "news"}));
  CHECK(counts.exact_topics("") == std::vector<std::string>{"chat.a", "chat.b"});
  counts.remove(patterns({"chat.a"}));
  CHECK(counts.exact_topics("chat.a").empty());
}
