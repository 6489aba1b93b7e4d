// Histogram of non-negative integers (latencies in ns) with bounded relative error.
//
// Log-linear buckets, as in HdrHistogram: values below 256 are counted exactly; above, each
// power of two is split into 128 equal buckets, so a bucket is at most 1/128 of its values
// wide. Percentiles report the bucket's midpoint, within 0.4% of the true sample, and the
// exact min and max are kept. Fixed size (about 60 KiB), recording is a few instructions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace loadgen {

class Histogram {
 public:
  Histogram();

  void record(uint64_t value);
  void reset();
  // Adds every sample of `other` to this one.
  void merge(const Histogram& other);

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  // The value at quantile q (0..1) by nearest rank; 0 when empty. q >= 1 gives the exact max.
  uint64_t percentile(double q) const;

  // Bucket geometry, exposed for tests.
  static size_t bucket_of(uint64_t value);
  static uint64_t bucket_low(size_t bucket);
  static uint64_t bucket_width(size_t bucket);

 private:
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
};

}  // namespace loadgen
