#include "sidecar/ingest/read_progress.hpp"

#include <catch2/catch.hpp>

using namespace sidecar;
using namespace std::chrono_literals;

namespace {
const ReadProgress::Clock::time_point t0{};
}

TEST_CASE("a publisher that reads nothing is idle from the start of the watch") {
  ReadProgress p;
  p.start(t0, 1000, 50);
  CHECK(p.idle(t0 + 1s, 1000, 50) == 1s);
  CHECK(p.idle(t0 + 3s, 1000, 50) == 3s);
}

TEST_CASE("fewer unread bytes is reading") {
  ReadProgress p;
  p.start(t0, 1000, 50);
  CHECK(p.idle(t0 + 1s, 999, 50) == 0s);
  CHECK(p.idle(t0 + 2s, 999, 50) == 1s);
  // More unread bytes without a write cannot be reading (it cannot happen, but is not taken
  // for progress).
  CHECK(p.idle(t0 + 3s, 2000, 50) == 2s);
  CHECK(p.idle(t0 + 4s, 1999, 50) == 0s);
}

TEST_CASE("a reply written is reading, even when it leaves more bytes unread") {
  ReadProgress p;
  p.start(t0, 1000, 50);
  CHECK(p.idle(t0 + 1s, 1500, 600) == 0s);
  CHECK(p.idle(t0 + 2s, 1500, 600) == 1s);
}

TEST_CASE("a new watch starts over") {
  ReadProgress p;
  p.start(t0, 1000, 50);
  CHECK(p.idle(t0 + 5s, 1000, 50) == 5s);
  p.start(t0 + 6s, 1000, 50);
  CHECK(p.idle(t0 + 7s, 1000, 50) == 1s);
}
