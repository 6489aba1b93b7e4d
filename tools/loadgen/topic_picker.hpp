// Chooses the topic index of each published event: round-robin over 0..count-1, or uniformly at
// random from a seeded generator. splitmix64 rather than <random> distributions, whose output
// differs between standard libraries: the same --seed gives the same sequence everywhere.
#pragma once

#include <cstdint>

namespace loadgen {

class TopicPicker {
 public:
  TopicPicker(uint64_t count, bool random, uint64_t seed)
      : count_(count ? count : 1), state_(seed), random_(random) {}

  uint64_t next() {
    if (!random_) return next_++ % count_;
    state_ += 0x9E3779B97F4A7C15ULL;
    uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    // Multiply-shift maps z onto 0..count-1 without modulo bias worth measuring.
    return static_cast<uint64_t>((static_cast<unsigned __int128>(z) * count_) >> 64);
  }

 private:
  uint64_t count_;
  uint64_t state_;
  uint64_t next_ = 0;
  bool random_;
};

}  // namespace loadgen
