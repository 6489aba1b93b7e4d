#include "sidecar/core/stream_listing.hpp"

#include <algorithm>

namespace sidecar {

bool StreamFilter::matches(const std::vector<TopicPattern>& topics, const std::string& subject_of,
                           const std::string& peer_of) const {
  if (!subject.empty() && subject_of != subject) return false;
  if (!peer.empty() && peer_of != peer) return false;
  if (!topic) return true;
  // An exact topic: the streams its events reach. A pattern: the streams subscribed to it.
  return std::any_of(topics.begin(), topics.end(), [&](const TopicPattern& p) {
    return topic->is_wildcard() ? p == *topic : p.matches(topic->stem());
  });
}

StreamListing merge_stream_listings(std::vector<StreamListing> parts, std::size_t limit) {
  StreamListing out;
  for (auto& part : parts) {
    out.total += part.total;
    std::move(part.streams.begin(), part.streams.end(), std::back_inserter(out.streams));
  }
  // Oldest first; among streams of one age, by worker and then by serial: a stable order.
  auto older = [](const StreamSummary& a, const StreamSummary& b) {
    if (a.age_ms != b.age_ms) return a.age_ms > b.age_ms;
    if (a.worker != b.worker) return a.worker < b.worker;
    return a.serial < b.serial;
  };
  if (out.streams.size() > limit) {
    std::partial_sort(out.streams.begin(), out.streams.begin() + static_cast<std::ptrdiff_t>(limit),
                      out.streams.end(), older);
    out.streams.resize(limit);
  } else {
    std::sort(out.streams.begin(), out.streams.end(), older);
  }
  return out;
}

}  // namespace sidecar
