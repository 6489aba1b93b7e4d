#include "sidecar/hub/topic_activity.hpp"

#include <catch2/catch.hpp>

using namespace sidecar;

namespace {
constexpr std::uint64_t kStart = 1'700'000'000'000;  // a bucket boundary (a multiple of 10 s)
}  // namespace

TEST_CASE("the rate is the events of the last minute over the span they cover") {
  TopicActivity activity(100);
  for (int i = 0; i < 30; ++i) activity.record("a", kStart + 1000 * static_cast<std::uint64_t>(i));
  auto now = kStart + 50'000;  // the window then covers 50 s (and a millisecond)
  auto f = activity.figures("a", now);
  CHECK(f.last_ms == kStart + 29'000);
  CHECK(f.rate == Approx(30.0 / 50.001));
  CHECK(activity.figures("b", now).rate == 0);
  CHECK(activity.figures("b", now).last_ms == 0);
}

TEST_CASE("events older than the window no longer count") {
  TopicActivity activity(100);
  activity.record("a", kStart);           // bucket 0
  activity.record("a", kStart + 5000);    // bucket 0
  activity.record("a", kStart + 25'000);  // bucket 2
  // At 60 s the window is buckets 1 to 6: the two events of bucket 0 fell out of it.
  CHECK(activity.figures("a", kStart + 60'000).rate == Approx(1.0 / 50.001));
  // At 90 s no bucket with an event is left, but the last event's time is still known.
  CHECK(activity.figures("a", kStart + 90'000).rate == 0);
  CHECK(activity.figures("a", kStart + 90'000).last_ms == kStart + 25'000);
  // A new event after a long pause starts from empty buckets.
  activity.record("a", kStart + 200'000);
  CHECK(activity.figures("a", kStart + 200'000).rate == Approx(1.0 / 50.001));
}

TEST_CASE("topics idle for the window are forgotten, the least recently active first") {
  TopicActivity activity(100);
  activity.record("old", kStart);
  activity.record("new", kStart + 30'000);
  activity.expire(kStart + 61'000);
  CHECK(activity.size() == 1);
  CHECK(activity.figures("old", kStart + 61'000).last_ms == 0);
  CHECK(activity.figures("new", kStart + 61'000).last_ms == kStart + 30'000);
}

TEST_CASE("at most max_topics are kept: the least recently active goes") {
  TopicActivity activity(2);
  activity.record("a", kStart);
  activity.record("b", kStart + 1);
  activity.record("a", kStart + 2);  // b is now the least recently active
  activity.record("c", kStart + 3);
  CHECK(activity.size() == 2);
  CHECK(activity.figures("b", kStart + 3).last_ms == 0);
  CHECK(activity.figures("a", kStart + 3).last_ms == kStart + 2);
  activity.set_max_topics(1);
  CHECK(activity.size() == 1);
  CHECK(activity.figures("c", kStart + 3).last_ms == kStart + 3);
  activity.set_max_topics(0);
  activity.record("d", kStart + 4);
  CHECK(activity.size() == 0);
}

TEST_CASE("whatever history keeps, the activity of at most kMaxTopics topics is kept") {
  TopicActivity activity(1'000'000);
  for (std::uint64_t i = 0; i < TopicActivity::kMaxTopics + 5; ++i) {
    activity.record("t" + std::to_string(i), kStart + i);
  }
  CHECK(activity.size() == TopicActivity::kMaxTopics);
  CHECK(activity.figures("t0", kStart + 20'000).last_ms == 0);  // the least recently active
  CHECK(activity.figures("t10004", kStart + 20'000).last_ms == kStart + 10'004);
}
