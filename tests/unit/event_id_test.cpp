#include "sidecar/core/event_id.hpp"

#include <catch2/catch.hpp>
#include <limits>
#include <string>

using namespace sidecar;

namespace {

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

}  // namespace

TEST_CASE("event ids format as <epoch>-<seq> in decimal", "[event_id]") {
  CHECK(EventId{0, 0}.to_string() == "0-0");
  CHECK(EventId{1700000000123, 1}.to_string() == "1700000000123-1");
  CHECK(EventId{5, 1000000}.to_string() == "5-1000000");
  CHECK(EventId{kMax, kMax}.to_string() == "18446744073709551615-18446744073709551615");
}

TEST_CASE("event ids parse back to the id they were formatted from", "[event_id]") {
  for (EventId id : {EventId{0, 0}, EventId{0, 1}, EventId{1, 0}, EventId{1700000000123, 42},
                     EventId{kMax, 0}, EventId{0, kMax}, EventId{kMax, kMax}}) {
    INFO(id.to_string());
    auto parsed = EventId::parse(id.to_string());
    REQUIRE(parsed);
    CHECK(parsed->epoch == id.epoch);
    CHECK(parsed->seq == id.seq);
  }
  auto parsed = EventId::parse("1700000000123-7");
  REQUIRE(parsed);
  CHECK(parsed->epoch == 1700000000123);
  CHECK(parsed->seq == 7);
}

TEST_CASE("malformed event ids are refused", "[event_id]") {
  const char* rejected[] = {
      "",         // empty
      "-",        // no numbers
      "17",       // no dash
      "17-",      // no seq
      "-17",      // no epoch
      "a-1",      // non-digits
      "1-b",      //
      "1-2x",     // trailing junk
      "0x1-2",    // hex
      "1-2-3",    // a second dash
      "1--2",     // negative seq
      "+1-2",     // signs
      "1-+2",     //
      "-1-2",     //
      " 1-2",     // whitespace
      "1-2 ",     //
      "1 -2",     //
      "1- 2",     //
      "1-2\n",    //
      "1.5-2",    // fractions
      "1_000-2",  // separators
  };
  for (const char* text : rejected) {
    INFO('"' << text << '"');
    CHECK_FALSE(EventId::parse(text));
  }
  // NUL inside the text is not the end of it.
  CHECK_FALSE(EventId::parse(std::string_view("1-2\0", 4)));
}

TEST_CASE("event id numbers that overflow 64 bits are refused", "[event_id]") {
  CHECK(EventId::parse("18446744073709551615-18446744073709551615") == EventId{kMax, kMax});
  CHECK_FALSE(EventId::parse("18446744073709551616-1"));
  CHECK_FALSE(EventId::parse("1-18446744073709551616"));
  CHECK_FALSE(EventId::parse("99999999999999999999999-1"));
}

TEST_CASE("event ids order by epoch, then seq, as numbers", "[event_id]") {
  // As text "10-1" < "9-1" and "5-10" < "5-9"; as ids it is the other way round.
  CHECK(EventId{9, 1} < EventId{10, 1});
  CHECK(EventId{5, 9} < EventId{5, 10});
  // A later epoch is newer whatever the sequence.
  CHECK(EventId{5, kMax} < EventId{6, 0});
  CHECK(EventId{6, 0} > EventId{5, kMax});
  CHECK(EventId{7, 7} == EventId{7, 7});
  CHECK_FALSE(EventId{7, 7} < EventId{7, 7});
  CHECK(EventId{7, 7} <= EventId{7, 7});
  CHECK(EventId{7, 7} != EventId{7, 8});
  CHECK(*EventId::parse("9-1") < *EventId::parse("10-1"));
}
