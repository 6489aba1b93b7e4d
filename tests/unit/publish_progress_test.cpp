#include "sidecar/app/publish_progress.hpp"

#include <catch2/catch.hpp>

using namespace sidecar;
using namespace std::chrono_literals;
using Clock = PublishProgress::Clock;

TEST_CASE("publish progress: nothing in the first second, then a line a second") {
  Clock::time_point t0{};
  PublishProgress p(t0);
  PublishCounts c{100, 90, 10};
  CHECK(p.until_due(t0) == 1000ms);
  CHECK_FALSE(p.line(t0 + 999ms, c));
  CHECK_FALSE(p.shown());
  CHECK(p.until_due(t0 + 400ms) == 600ms);
  auto first = p.line(t0 + 1s, c);
  REQUIRE(first);
  CHECK(*first == "100 lines sent, 90 accepted, 10 refused, 100 lines/s");
  CHECK(p.shown());
  CHECK_FALSE(p.line(t0 + 1500ms, c));
  // The rate is since the previous line; a late wakeup does not bunch the next lines up.
  c = {400, 380, 20};
  auto second = p.line(t0 + 2500ms, c);
  REQUIRE(second);
  CHECK(*second == "400 lines sent, 380 accepted, 20 refused, 200 lines/s");
  CHECK(p.until_due(t0 + 2500ms) == 500ms);
}

TEST_CASE("publish progress: the summary has totals, time and mean rate") {
  Clock::time_point t0{};
  PublishProgress p(t0);
  CHECK(p.summary(t0 + 2s, {1000, 1000, 0}, 0) ==
        "done: 1000 lines sent, 1000 accepted, 0 refused in 2.0 s (500 lines/s)");
  CHECK(p.summary(t0 + 4s, {1000, 990, 0}, 10) ==
        "done: 1000 lines sent, 990 accepted, 0 refused, 10 unanswered in 4.0 s (247 lines/s)");
}
