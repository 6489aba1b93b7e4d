#include "tools/loadgen/histogram.hpp"

#include <algorithm>
#include <cmath>

namespace loadgen {

namespace {
constexpr int kSubBits = 7;                         // 128 buckets per power of two
constexpr uint64_t kSub = uint64_t{1} << kSubBits;  // 128
constexpr uint64_t kExact = kSub * 2;               // values below this have their own bucket
// The largest value (2^64 - 1) has its top bit at 63: shift 56, the last bucket below.
constexpr size_t kBuckets = kExact + (63 - kSubBits) * kSub;
}  // namespace

Histogram::Histogram() : counts_(kBuckets, 0) {}

size_t Histogram::bucket_of(uint64_t value) {
  if (value < kExact) return static_cast<size_t>(value);
  int top_bit = 63 - __builtin_clzll(value);
  int shift = top_bit - kSubBits;  // >= 1: keeps the top 8 bits, the first of which is 1
  return kExact + static_cast<size_t>(shift - 1) * kSub +
         static_cast<size_t>((value >> shift) - kSub);
}

uint64_t Histogram::bucket_low(size_t bucket) {
  if (bucket < kExact) return bucket;
  size_t j = bucket - kExact;
  int shift = static_cast<int>(j / kSub) + 1;
  return (kSub + j % kSub) << shift;
}

uint64_t Histogram::bucket_width(size_t bucket) {
  if (bucket < kExact) return 1;
  return uint64_t{1} << ((bucket - kExact) / kSub + 1);
}

void Histogram::record(uint64_t value) {
  ++counts_[bucket_of(value)];
  ++count_;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
}

void Histogram::reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  min_ = UINT64_MAX;
  max_ = 0;
}

void Histogram::merge(const Histogram& other) {
  for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

uint64_t Histogram::percentile(double q) const {
  if (count_ == 0) return 0;
  if (q >= 1.0) return max_;
  q = std::max(q, 0.0);
  uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      uint64_t mid = bucket_low(i) + bucket_width(i) / 2;
      return std::clamp(mid, min(), max_);
    }
  }
  return max_;
}

}  // namespace loadgen
