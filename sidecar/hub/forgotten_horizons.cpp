#include "sidecar/hub/forgotten_horizons.hpp"

#include <algorithm>
#include <bit>
#include <functional>

#include "sidecar/core/heap_cost.hpp"

namespace sidecar {

std::size_t ForgottenHorizons::slots_for(std::size_t max_topics) {
  // Twice as many slots as topics tracked, from 4 Ki to 4 Mi slots (32 KiB to 32 MiB): 2 MiB
  // for the default 100 000 topics.
  constexpr std::size_t kMin = std::size_t{1} << 12;
  constexpr std::size_t kMax = std::size_t{1} << 22;
  return std::bit_ceil(std::clamp(2 * std::min(max_topics, kMax), kMin, kMax));
}

ForgottenHorizons::ForgottenHorizons(std::size_t slots) : table_(slots, 0) {}

std::size_t ForgottenHorizons::slot(std::string_view topic) const {
  // The table is a power of two, so a slot is the hash's low bits; resize() relies on that.
  return std::hash<std::string_view>{}(topic) & (table_.size() - 1);
}

void ForgottenHorizons::raise(std::string_view topic, std::uint64_t seq) {
  auto& horizon = table_[slot(topic)];
  horizon = std::max(horizon, seq);
}

void ForgottenHorizons::raise_all(std::uint64_t seq) {
  for (auto& horizon : table_) horizon = std::max(horizon, seq);
}

void ForgottenHorizons::resize(std::size_t slots) {
  if (slots == table_.size()) return;
  std::vector<std::uint64_t> next(slots, 0);
  if (slots > table_.size()) {
    // A name in new slot i was in old slot i's low bits.
    for (std::size_t i = 0; i < slots; ++i) next[i] = table_[i & (table_.size() - 1)];
  } else {
    for (std::size_t i = 0; i < table_.size(); ++i) {
      auto& merged = next[i & (slots - 1)];
      merged = std::max(merged, table_[i]);
    }
  }
  table_ = std::move(next);
}

std::size_t ForgottenHorizons::heap_bytes() const {
  return sidecar::heap_bytes(table_.capacity() * sizeof(std::uint64_t));
}

}  // namespace sidecar
