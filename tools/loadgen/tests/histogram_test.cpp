#include "tools/loadgen/histogram.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

using namespace loadgen;

namespace {

uint64_t exact_percentile(std::vector<uint64_t> v, double q) {
  std::sort(v.begin(), v.end());
  auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
  rank = std::clamp<size_t>(rank, 1, v.size());
  return v[rank - 1];
}

double relative_error(uint64_t got, uint64_t want) {
  return std::abs(static_cast<double>(got) - static_cast<double>(want)) / static_cast<double>(want);
}

}  // namespace

TEST_CASE("buckets tile the value range without gaps and stay within 1/128 wide") {
  for (size_t b = 1; b < Histogram::bucket_of(UINT64_MAX); ++b) {
    REQUIRE(Histogram::bucket_low(b) ==
            Histogram::bucket_low(b - 1) + Histogram::bucket_width(b - 1));
    REQUIRE(Histogram::bucket_width(b) * 128 <= std::max<uint64_t>(Histogram::bucket_low(b), 128));
  }
  for (uint64_t v : {uint64_t{0}, uint64_t{255}, uint64_t{256}, uint64_t{511}, uint64_t{512},
                     uint64_t{1'000'000'007}, UINT64_MAX}) {
    size_t b = Histogram::bucket_of(v);
    CHECK(Histogram::bucket_low(b) <= v);
    CHECK(v - Histogram::bucket_low(b) < Histogram::bucket_width(b));
  }
}

TEST_CASE("small values are exact") {
  Histogram h;
  for (uint64_t v = 1; v <= 100; ++v) h.record(v);
  CHECK(h.percentile(0.5) == 50);
  CHECK(h.percentile(0.99) == 99);
  CHECK(h.percentile(1.0) == 100);
  CHECK(h.min() == 1);
  CHECK(h.count() == 100);
}

TEST_CASE("percentiles of spread-out latencies are within 1%") {
  std::mt19937_64 rng(42);
  // Log-normal around 1 ms with a long tail, like delivery latencies.
  std::lognormal_distribution<double> dist(std::log(1e6), 1.2);
  std::vector<uint64_t> values;
  Histogram h;
  for (int i = 0; i < 200'000; ++i) {
    auto v = static_cast<uint64_t>(dist(rng));
    values.push_back(v);
    h.record(v);
  }
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    INFO("q = " << q);
    CHECK(relative_error(h.percentile(q), exact_percentile(values, q)) < 0.01);
  }
  CHECK(h.max() == *std::max_element(values.begin(), values.end()));
  CHECK(h.percentile(1.0) == h.max());
}

TEST_CASE("empty, reset and merge") {
  Histogram a, b;
  CHECK(a.percentile(0.99) == 0);
  CHECK(a.max() == 0);
  a.record(1000);
  b.record(5'000'000);
  a.merge(b);
  CHECK(a.count() == 2);
  CHECK(a.max() == 5'000'000);
  CHECK(a.min() == 1000);
  a.reset();
  CHECK(a.count() == 0);
  CHECK(a.percentile(0.5) == 0);
}
