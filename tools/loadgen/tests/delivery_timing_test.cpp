// Tests of what a burst is timed with: the subscriber's delivery window and the publisher's send
// stamps.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "tools/loadgen/clock.hpp"
#include "tools/loadgen/delivery_window.hpp"
#include "tools/loadgen/publisher.hpp"

using namespace loadgen;

TEST_CASE("the delivery window spans first to last receive and the extreme stamps") {
  DeliveryWindow w;
  CHECK(w.count() == 0);
  CHECK(w.per_second() == 0);
  CHECK(w.earliest_stamp_to_last_receive_ns() == 0);

  w.add(1'000, std::nullopt);
  CHECK(w.first_receive_ns() == 1'000);
  CHECK(w.earliest_stamp_ns() == 0);
  CHECK(w.earliest_stamp_to_last_receive_ns() == 0);  // nothing stamped yet

  // Streams are read in any order: a later receive may carry an earlier stamp.
  w.add(2'000, 900);
  w.add(3'000, 800);
  w.add(1'000'001'000, 950);
  CHECK(w.count() == 4);
  CHECK(w.first_receive_ns() == 1'000);
  CHECK(w.last_receive_ns() == 1'000'001'000);
  CHECK(w.earliest_stamp_ns() == 800);
  CHECK(w.latest_stamp_ns() == 950);
  CHECK(w.earliest_stamp_to_last_receive_ns() == 1'000'000'200);
  CHECK(w.per_second() == Approx(4.0));
}

namespace {

// A target that takes each event the moment it is due and answers it at once.
class InstantPublisher final : public Publisher {
 public:
  using Publisher::Publisher;
  std::vector<int64_t> stamps;

 private:
  bool open(std::string&) override { return true; }
  void pump() override {
    while (!all_sent() && stats().sent < due()) {
      stamps.push_back(stamp());
      note_sent();
      note_reply(true);
    }
  }
};

}  // namespace

TEST_CASE("the publisher reports the stamps of its first and last event") {
  PublishOptions o;
  std::string error;
  o.topics = *IndexTemplate::parse("t", error);
  o.events = 5;
  o.rate = 500;  // 2 ms apart
  o.progress = false;
  InstantPublisher p(o);
  int64_t before = realtime_ns();
  REQUIRE(p.run(error));
  REQUIRE(p.stamps.size() == 5);
  CHECK(p.stats().first_stamp_ns == p.stamps.front());
  CHECK(p.stats().last_stamp_ns == p.stamps.back());
  CHECK(p.stats().first_stamp_ns >= before);
  CHECK(p.stats().last_stamp_ns - p.stats().first_stamp_ns >= 7'000'000);  // 4 intervals
}
