#include "sidecar/stream/subscription_index.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <random>
#include <set>

#include "tests/unit/topic_patterns.hpp"

using namespace sidecar;
using sidecar::test::patterns;

namespace {

// The index only stores the pointer; fake addresses stand in for streams.
StreamConn* fake(std::uintptr_t n) {
  return reinterpret_cast<StreamConn*>(n * 16);
}

std::vector<StreamConn*> found(const SubscriptionIndex& index, std::string_view topic) {
  std::vector<StreamConn*> out;
  index.for_each(topic, [&](StreamConn* s) { out.push_back(s); });
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("the worker index finds every stream whose entry matches") {
  SubscriptionIndex index;
  StreamConn* a = fake(1);
  StreamConn* b = fake(2);
  StreamConn* c = fake(3);
  auto pa = patterns({"x.y"});
  auto pb = patterns({"x.*"});
  auto pc = patterns({"x.y.*", "z"});
  std::vector<std::uint32_t> sa, sb, sc;
  index.add(a, pa, sa);
  index.add(b, pb, sb);
  index.add(c, pc, sc);
  CHECK(found(index, "x.y") == std::vector<StreamConn*>{a, b});
  CHECK(found(index, "x.y.z") == std::vector<StreamConn*>{b, c});
  CHECK(found(index, "z") == std::vector<StreamConn*>{c});
  CHECK(found(index, "x").empty());
  index.remove(pb, sb);
  CHECK(found(index, "x.y") == std::vector<StreamConn*>{a});
  CHECK(sb.empty());
  index.remove(pc, sc);
  CHECK(found(index, "z").empty());
  CHECK(found(index, "x.y.z").empty());
}

TEST_CASE("removing streams in any order keeps every other stream indexed exactly once") {
  // Swap-with-last removal moves entries around: each moved stream's slot must follow it.
  constexpr std::size_t kStreams = 500;
  SubscriptionIndex index;
  auto topics = patterns({"t", "u"});
  std::deque<std::vector<std::uint32_t>> slots(kStreams);  // stable addresses, as in a stream
  for (std::size_t i = 0; i < kStreams; ++i) index.add(fake(i + 1), topics, slots[i]);
  CHECK(index.count_exact("t") == kStreams);

  std::vector<std::size_t> order(kStreams);
  for (std::size_t i = 0; i < kStreams; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937(42));
  std::set<StreamConn*> left;
  for (std::size_t i = 0; i < kStreams; ++i) left.insert(fake(i + 1));
  for (std::size_t n = 0; n < kStreams; ++n) {
    std::size_t i = order[n];
    index.remove(topics, slots[i]);
    left.erase(fake(i + 1));
    if (n % 50 == 0 || left.size() < 3) {
      std::vector<StreamConn*> expected(left.begin(), left.end());
      REQUIRE(found(index, "t") == expected);
      REQUIRE(found(index, "u") == expected);
    }
  }
  CHECK(index.count_exact("t") == 0);
}

TEST_CASE("removing a stream twice, or one never added, changes nothing") {
  SubscriptionIndex index;
  auto topics = patterns({"t"});
  std::vector<std::uint32_t> s1, s2, never;
  index.add(fake(1), topics, s1);
  index.add(fake(2), topics, s2);
  index.remove(topics, s1);
  index.remove(topics, s1);  // slots were cleared: nothing to remove
  never = {0};               // a stale position that points at someone else's entry
  index.remove(topics, never);
  CHECK(found(index, "t") == std::vector<StreamConn*>{fake(2)});
}
