#include "sidecar/core/stream_listing.hpp"

#include <catch2/catch.hpp>

#include "tests/unit/topic_patterns.hpp"

using namespace sidecar;
using sidecar::test::patterns;

TEST_CASE("a stream filter matches by topic, pattern, subject and peer") {
  StreamFilter any;
  CHECK(any.matches(patterns({"a"}), "", "10.0.0.1"));

  StreamFilter on_topic;
  on_topic.topic = TopicPattern::parse("chat.room");
  CHECK(on_topic.matches(patterns({"chat.room"}), "", "p"));
  CHECK(on_topic.matches(patterns({"chat.*"}), "", "p"));  // its events reach the pattern
  CHECK_FALSE(on_topic.matches(patterns({"chat.other"}), "", "p"));

  StreamFilter on_pattern;
  on_pattern.topic = TopicPattern::parse("chat.*");
  CHECK(on_pattern.matches(patterns({"x", "chat.*"}), "", "p"));
  CHECK_FALSE(on_pattern.matches(patterns({"chat.room"}), "", "p"));  // not the pattern itself

  StreamFilter who;
  who.subject = "alice";
  who.peer = "10.0.0.1";
  CHECK(who.matches(patterns({"a"}), "alice", "10.0.0.1"));
  CHECK_FALSE(who.matches(patterns({"a"}), "bob", "10.0.0.1"));
  CHECK_FALSE(who.matches(patterns({"a"}), "alice", "10.0.0.2"));
  CHECK_FALSE(who.matches(patterns({"a"}), "", "10.0.0.1"));  // anonymous has no subject
}

TEST_CASE("worker listings merge into the oldest streams and the sum of their totals") {
  auto stream = [](unsigned worker, std::uint64_t serial, std::uint64_t age_ms) {
    StreamSummary s;
    s.worker = worker;
    s.serial = serial;
    s.age_ms = age_ms;
    return s;
  };
  StreamListing w0{5, {stream(0, 1, 900), stream(0, 2, 500)}};
  StreamListing w1{3, {stream(1, 7, 700), stream(1, 8, 500)}};
  StreamListing w2{0, {}};
  auto merged = merge_stream_listings({w0, w1, w2}, 3);
  CHECK(merged.total == 8);
  REQUIRE(merged.streams.size() == 3);
  CHECK(merged.streams[0].serial == 1);
  CHECK(merged.streams[1].serial == 7);
  CHECK(merged.streams[2].worker == 0);  // a tie of ages goes by worker
  CHECK(merge_stream_listings({w0, w1}, 10).streams.size() == 4);
}
