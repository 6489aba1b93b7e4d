#include "sidecar/core/rate_limiter.hpp"

#include <catch2/catch.hpp>

using namespace sidecar;
using namespace std::chrono_literals;

TEST_CASE("token bucket refills at its rate up to its burst") {
  RateLimiter limiter(2, 3);  // 2/s, burst 3
  auto t = RateLimiter::Clock::now();
  int retry = 0;
  CHECK(limiter.take("k", t, 1, retry));
  CHECK(limiter.take("k", t, 1, retry));
  CHECK(limiter.take("k", t, 1, retry));
  CHECK_FALSE(limiter.take("k", t, 1, retry));
  CHECK(retry == 1);
  CHECK(limiter.take("other", t, 1, retry));
  CHECK(limiter.take("k", t + 500ms, 1, retry));
  CHECK_FALSE(limiter.take("k", t + 500ms, 1, retry));
  // Never more than the burst, however long idle.
  for (int i = 0; i < 3; ++i) CHECK(limiter.take("k", t + 1h, 1, retry));
  CHECK_FALSE(limiter.take("k", t + 1h, 1, retry));
}

TEST_CASE("a zero rate means no limit") {
  RateLimiter limiter(0, 1);
  int retry = 0;
  for (int i = 0; i < 100; ++i) CHECK(limiter.take("k", RateLimiter::Clock::now(), 1, retry));
  CHECK_FALSE(limiter.enabled());
}
