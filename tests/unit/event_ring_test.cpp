#include "sidecar/hub/event_ring.hpp"

#include <catch2/catch.hpp>
#include <deque>

#include "sidecar/core/heap_cost.hpp"

using namespace sidecar;

namespace {

EventRef event(std::uint64_t seq) {
  return Event::create(EventId{1, seq}, EventDraft{{"t"}, "", "x", std::nullopt},
                       Event::Clock::now());
}

}  // namespace

TEST_CASE("event ring: first in, first out, across wrap-around and growth") {
  EventRing ring;
  std::deque<std::uint64_t> model;
  std::uint64_t next = 1;
  // Pushes outpace pops, with bursts of each, so the head wraps at several capacities.
  for (int round = 0; round < 200; ++round) {
    for (int i = 0; i < round % 7 + 1; ++i) {
      ring.push_back(event(next));
      model.push_back(next++);
    }
    for (int i = 0; i < round % 5 && !model.empty(); ++i) {
      REQUIRE(ring.pop_front()->id().seq == model.front());
      model.pop_front();
    }
    REQUIRE(ring.size() == model.size());
    for (std::size_t i = 0; i < model.size(); ++i) REQUIRE(ring[i]->id().seq == model[i]);
  }
  CHECK(ring.front()->id().seq == model.front());
  CHECK(ring.back()->id().seq == model.back());
}

TEST_CASE("event ring: first_after finds the first event past a seq") {
  EventRing ring;
  for (std::uint64_t seq : {3, 5, 9, 10}) ring.push_back(event(seq));
  ring.pop_front();  // 5, 9, 10 with the head moved
  CHECK(ring.first_after(0) == 0);
  CHECK(ring.first_after(5) == 1);
  CHECK(ring.first_after(6) == 1);
  CHECK(ring.first_after(9) == 2);
  CHECK(ring.first_after(10) == 3);
  CHECK(EventRing().first_after(1) == 0);
}

TEST_CASE("event ring: one block, sized to what it holds, none when empty") {
  EventRing ring;
  CHECK(ring.heap_bytes() == 0);
  ring.push_back(event(1));
  // One event costs one small block, where a std::deque takes a 512-byte block and a map.
  CHECK(ring.heap_bytes() == heap_bytes(sizeof(EventRef) + sizeof(std::size_t)));
  for (std::uint64_t seq = 2; seq <= 1000; ++seq) ring.push_back(event(seq));
  std::size_t full = ring.heap_bytes();
  CHECK(full >= 1000 * sizeof(EventRef));
  CHECK(full <= std::size_t{2048} * sizeof(EventRef) + 64);
  while (ring.size() > 10) ring.pop_front();
  CHECK(ring.heap_bytes() < full / 16);  // it shrank with what it holds
  CHECK(ring.front()->id().seq == 991);
  while (!ring.empty()) ring.pop_front();
  CHECK(ring.heap_bytes() == 0);
}
