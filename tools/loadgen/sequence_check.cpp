#include "tools/loadgen/sequence_check.hpp"

namespace loadgen {

void SequenceCheck::event(uint64_t topic, uint64_t seq, SequenceStats& stats) {
  ++stats.checked;
  Topic* t = nullptr;
  for (Topic& known : topics_) {
    if (known.topic == topic) t = &known;
  }
  if (!t) {
    uint64_t before = first_ ? first_ - 1 : seq - 1;
    topics_.push_back({topic, before, notice_pending_});
    t = &topics_.back();
  }
  if (seq <= t->last) {
    ++stats.duplicated;
    return;
  }
  uint64_t skipped = seq - t->last - 1;
  (t->after_notice ? stats.covered : stats.lost) += skipped;
  t->after_notice = false;
  t->last = seq;
}

void SequenceCheck::missed(SequenceStats& stats) {
  ++stats.notices;
  notice_pending_ = true;
  for (Topic& t : topics_) t.after_notice = true;
}

uint64_t SequenceCheck::shortfall(uint64_t end) const {
  uint64_t sum = 0;
  for (const Topic& t : topics_) {
    if (t.last < end) sum += end - t.last;
  }
  return sum;
}

bool SequenceCheck::reached(uint64_t end) const {
  if (topics_.empty()) return false;
  for (const Topic& t : topics_) {
    if (t.last < end) return false;
  }
  return true;
}

}  // namespace loadgen
