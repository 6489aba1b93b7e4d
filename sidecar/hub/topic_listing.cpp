#include "sidecar/hub/topic_listing.hpp"

namespace sidecar {

TopicListing merge_topic_pages(std::vector<TopicFigures> history, std::size_t history_total,
                               const std::vector<std::string>& subscribed,
                               std::size_t subscribed_only, std::size_t limit) {
  TopicListing out;
  out.total = history_total + subscribed_only;
  // A subscribed name missing from the history page either has no history, or sorts after the
  // page's last name: then `limit` names come before it and it is not listed either way.
  std::size_t h = 0;
  std::size_t s = 0;
  while (out.topics.size() < limit && (h < history.size() || s < subscribed.size())) {
    if (s == subscribed.size() || (h < history.size() && history[h].topic <= subscribed[s])) {
      if (s < subscribed.size() && history[h].topic == subscribed[s]) ++s;
      out.topics.push_back(std::move(history[h++]));
    } else {
      TopicFigures none;
      none.topic = subscribed[s++];
      out.topics.push_back(std::move(none));
    }
  }
  return out;
}

}  // namespace sidecar
