// GET /topics and GET /streams on the admin listener: their query parameters, checked with a
// one-line reason for each mistake, and their JSON answers. Kept apart from the HTTP plumbing
// so that both can be tested on their own.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sidecar/core/stream_listing.hpp"
#include "sidecar/hub/topic_listing.hpp"

namespace sidecar {

// The decoded query parameters of a request, in order.
using QueryParams = std::vector<std::pair<std::string, std::string>>;

inline constexpr std::size_t kTopicsDefaultLimit = 1000;
inline constexpr std::size_t kStreamsDefaultLimit = 100;
// The most a page may hold: what one answer costs the main loop and the workers.
inline constexpr std::size_t kIntrospectionMaxLimit = 10000;

struct TopicsRequest {
  std::string prefix;
  std::size_t limit = kTopicsDefaultLimit;
};

// Each returns "" when the parameters are valid (and fills `out`), else what to fix.
std::string parse_topics_request(const QueryParams& params, TopicsRequest& out);
std::string parse_streams_request(const QueryParams& params, StreamFilter& out);

// `engine` names where history figures come from: "memory" or "redis".
std::string topics_json(const TopicsRequest& request, const TopicListing& listing,
                        std::string_view engine);
std::string streams_json(const StreamFilter& filter, const StreamListing& listing);

}  // namespace sidecar
