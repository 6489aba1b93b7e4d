#include "sidecar/stream/delivery_plan.hpp"

#include <catch2/catch.hpp>

using namespace sidecar;

namespace {

constexpr std::uint64_t kEpoch = 7;

struct Batches {
  std::uint64_t seq = 0;
  std::vector<std::shared_ptr<const EventBatch>> list;

  void add(std::vector<std::vector<std::string>> topics_per_event) {
    auto batch = std::make_shared<EventBatch>();
    for (auto& topics : topics_per_event) {
      ++seq;
      EventDraft draft{std::move(topics), "", "payload " + std::to_string(seq), std::nullopt};
      batch->push_back(Event::create(EventId{kEpoch, seq}, draft, Event::Clock::now()));
    }
    list.push_back(std::move(batch));
  }
};

std::string frames(const std::vector<const Event*>& events, bool chunked) {
  std::string out;
  for (const Event* e : events) out += chunked ? e->chunked() : e->plain();
  return out;
}

}  // namespace

TEST_CASE("events of several batches are grouped by topic, in commit order") {
  Batches b;
  b.add({{"a"}, {"b"}, {"a"}});
  b.add({{"a", "c"}});
  DeliveryPlan plan(b.list);
  REQUIRE(plan.runs() == 3);
  CHECK(plan.topic(0) == "a");
  CHECK(plan.topic(1) == "b");
  CHECK(plan.topic(2) == "c");
  REQUIRE(plan.events().size() == 4);
  // The event on two topics sits in both runs.
  const auto& places = plan.events()[3].places;
  REQUIRE(places.size() == 2);
  CHECK(places[0].run == 0);
  CHECK(places[0].pos == 2);
  CHECK(places[1].run == 2);
  CHECK(places[1].pos == 0);
}

TEST_CASE("a run's tail is one slice of every frame after a given id, in both framings") {
  Batches b;
  b.add({{"a"}, {"a"}, {"b"}, {"a"}});
  DeliveryPlan plan(b.list);
  std::vector<const Event*> a_events;
  for (const auto& e : plan.events()) {
    if (e.event->topics()[0] == "a") a_events.push_back(e.event);
  }
  for (bool chunked : {true, false}) {
    auto all = plan.tail(0, chunked, 0);
    CHECK(all.events == 3);
    CHECK(all.last_seq == 4);
    CHECK(std::string(all.bytes) == frames(a_events, chunked));
    // After seq 1 (already replayed): events 2 and 4, still contiguous, same segment.
    auto rest = plan.tail(0, chunked, 1);
    CHECK(rest.events == 2);
    CHECK(rest.segment == all.segment);
    CHECK(std::string(rest.bytes) == frames({a_events[1], a_events[2]}, chunked));
    CHECK(plan.tail(0, chunked, 4).segment == nullptr);
  }
  // Both framings are laid out apart: a chunked and a plain stream never share bytes.
  CHECK(plan.tail(0, true, 0).segment != plan.tail(0, false, 0).segment);
}

TEST_CASE("a tail within a byte limit takes the events that fit, and always one") {
  Batches b;
  b.add({{"a"}, {"a"}, {"a"}, {"a"}});
  DeliveryPlan plan(b.list);
  std::size_t one = plan.one(0, 0, true).bytes.size();
  auto two = plan.tail(0, true, 0, 2 * one + one / 2);
  CHECK(two.events == 2);
  CHECK(two.last_seq == 2);
  auto exact = plan.tail(0, true, 1, 3 * one);
  CHECK(exact.events == 3);
  CHECK(exact.last_seq == 4);
  auto none_fit = plan.tail(0, true, 2, 0);
  CHECK(none_fit.events == 1);
  CHECK(none_fit.last_seq == 3);
}

TEST_CASE("a run of one event shares the event's own bytes instead of copying them") {
  Batches b;
  b.add({{"solo"}});
  DeliveryPlan plan(b.list);
  const Event* e = plan.events()[0].event;
  auto slice = plan.tail(0, true, 0);
  CHECK(slice.bytes.data() == e->chunked().data());
  CHECK(plan.one(0, 0, false).bytes.data() == e->plain().data());
}

TEST_CASE("slices stay valid after the plan is gone while a holder keeps the segment") {
  Batches b;
  b.add({{"a"}, {"a"}});
  std::string expected;
  SegmentHold keep;
  std::string_view bytes;
  {
    DeliveryPlan plan(b.list);
    expected = frames({plan.events()[0].event, plan.events()[1].event}, true);
    auto slice = plan.tail(0, true, 0);
    keep = SegmentHold(slice.segment);
    bytes = slice.bytes;
  }
  b.list.clear();  // the events themselves may go: the segment holds its own copy
  CHECK(std::string(bytes) == expected);
}
