// An evenly spaced sample of (receive time, latency) pairs for plotting, from a stream whose
// length is not known in advance.
//
// Keeps every stride-th sample; when `limit` are held, it drops every other one and doubles the
// stride. So it always holds between limit/2 and limit samples spread evenly over the whole run,
// in bounded memory (16 bytes each).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace loadgen {

class LatencySampler {
 public:
  struct Sample {
    int64_t receive_ns;
    int64_t latency_ns;
  };

  explicit LatencySampler(size_t limit = 200'000);

  void add(int64_t receive_ns, int64_t latency_ns) {
    if (seen_++ % stride_ != 0) return;
    samples_.push_back({receive_ns, latency_ns});
    if (samples_.size() >= limit_) halve();
  }

  const std::vector<Sample>& samples() const { return samples_; }
  // Writes "receive_ns,latency_ns" and one row per sample. False with `error` set on failure.
  bool write_csv(const std::string& path, std::string& error) const;

 private:
  void halve();

  size_t limit_;
  uint64_t stride_ = 1;
  uint64_t seen_ = 0;
  std::vector<Sample> samples_;
};

}  // namespace loadgen
