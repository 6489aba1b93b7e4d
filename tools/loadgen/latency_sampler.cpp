#include "tools/loadgen/latency_sampler.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace loadgen {

LatencySampler::LatencySampler(size_t limit) : limit_(limit < 2 ? 2 : limit) {
  samples_.reserve(limit_);
}

void LatencySampler::halve() {
  // Samples sit at multiples of stride_; keeping the even positions leaves multiples of 2*stride_,
  // exactly what add() keeps from now on.
  size_t kept = 0;
  for (size_t i = 0; i < samples_.size(); i += 2) samples_[kept++] = samples_[i];
  samples_.resize(kept);
  stride_ *= 2;
}

bool LatencySampler::write_csv(const std::string& path, std::string& error) const {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "w"), &std::fclose);
  if (!f) {
    error = path + ": " + std::strerror(errno);
    return false;
  }
  std::fputs("receive_ns,latency_ns\n", f.get());
  for (const Sample& s : samples_) {
    std::fprintf(f.get(), "%lld,%lld\n", static_cast<long long>(s.receive_ns),
                 static_cast<long long>(s.latency_ns));
  }
  if (std::fflush(f.get()) != 0 || std::ferror(f.get())) {
    error = path + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace loadgen
