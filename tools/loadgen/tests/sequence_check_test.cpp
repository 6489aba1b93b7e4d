// Tests of the per-stream sequence check: lost, duplicated and notice-covered numbers, several
// topics on one stream, and the shortfall against the publisher's last number.
#include "tools/loadgen/sequence_check.hpp"

#include <catch2/catch.hpp>

using namespace loadgen;

TEST_CASE("consecutive numbers pass; the first one seen is the start by default") {
  SequenceStats s;
  SequenceCheck c;
  for (uint64_t n = 5; n <= 9; ++n) c.event(0, n, s);
  CHECK(s.checked == 5);
  CHECK(s.lost == 0);
  CHECK(s.duplicated == 0);
  CHECK(c.reached(9));
  CHECK_FALSE(c.reached(10));
  CHECK(c.shortfall(12) == 3);
}

TEST_CASE("a skipped number is lost, a repeated or older one duplicated") {
  SequenceStats s;
  SequenceCheck c;
  c.event(3, 1, s);
  c.event(3, 2, s);
  c.event(3, 5, s);  // 3 and 4 lost
  c.event(3, 5, s);  // again
  c.event(3, 4, s);  // late: not a repair, a duplicate of what was given up on
  c.event(3, 6, s);
  CHECK(s.lost == 2);
  CHECK(s.duplicated == 2);
  CHECK(c.shortfall(6) == 0);
}

TEST_CASE("with a fixed start, numbers before the first one seen are lost") {
  SequenceStats s;
  SequenceCheck c(1);
  c.event(0, 4, s);
  CHECK(s.lost == 3);
  SequenceCheck empty(1);
  CHECK(empty.empty());
  CHECK_FALSE(empty.reached(1));
  CHECK(empty.shortfall(10) == 0);  // no topic known: the caller counts such streams apart
}

TEST_CASE("a gap right after a sidecar.missed notice is covered, not lost") {
  SequenceStats s;
  SequenceCheck c;
  c.event(0, 1, s);
  c.missed(s);
  c.event(0, 10, s);  // 2..9 covered by the notice
  c.event(0, 12, s);  // 11: a gap of its own, lost
  CHECK(s.notices == 1);
  CHECK(s.covered == 8);
  CHECK(s.lost == 1);
}

TEST_CASE("topics of one stream are checked apart") {
  SequenceStats s;
  SequenceCheck c(1);
  c.event(1, 1, s);
  c.event(2, 1, s);
  c.event(1, 2, s);
  c.event(2, 3, s);  // topic 2 lost its 2
  CHECK(s.lost == 1);
  CHECK(s.duplicated == 0);
  CHECK_FALSE(c.reached(3));
  CHECK(c.shortfall(3) == 1);  // topic 1 still lacks its 3
  c.event(1, 3, s);
  CHECK(c.reached(3));
}
