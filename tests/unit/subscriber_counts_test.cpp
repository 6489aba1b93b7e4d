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
