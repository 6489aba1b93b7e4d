#include "sidecar/hub/subscriber_counts.hpp"

#include <catch2/catch.hpp>

#include "sidecar/stream/subscription_index.hpp"
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

TEST_CASE("the worker index finds every stream whose entry matches") {
  SubscriptionIndex index;
  StreamConn* a = reinterpret_cast<StreamConn*>(0x10);
  StreamConn* b = reinterpret_cast<StreamConn*>(0x20);
  StreamConn* c = reinterpret_cast<StreamConn*>(0x30);
  index.add(a, patterns({"x.y"}));
  index.add(b, patterns({"x.*"}));
  index.add(c, patterns({"x.y.*", "z"}));
  auto found = [&](std::string_view topic) {
    std::vector<StreamConn*> out;
    index.for_each(topic, [&](StreamConn* s) { out.push_back(s); });
    std::sort(out.begin(), out.end());
    return out;
  };
  CHECK(found("x.y") == std::vector<StreamConn*>{a, b});
  CHECK(found("x.y.z") == std::vector<StreamConn*>{b, c});
  CHECK(found("z") == std::vector<StreamConn*>{c});
  CHECK(found("x").empty());
  index.remove(b, patterns({"x.*"}));
  CHECK(found("x.y") == std::vector<StreamConn*>{a});
}
