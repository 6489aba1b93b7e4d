// The open streams as GET /streams on the admin listener lists them: what it asks of every
// stream worker (a filter and a limit), what each answers (its streams that match, oldest first,
// and how many matched), and how the answers become one.
//
// The workers fill these on their own threads and hand them over by value; nothing here refers
// to a worker's state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sidecar/core/topic.hpp"

namespace sidecar {

struct StreamFilter {
  // A stream matches when each given criterion holds (none given: every stream).
  std::optional<TopicPattern> topic;  // it receives this topic's events, or has this pattern
  std::string subject;                // admitted as this subject ("" = any)
  std::string peer;                   // from this address ("" = any)
  std::size_t limit = 100;            // streams listed at most (all are counted)

  bool matches(const std::vector<TopicPattern>& topics, const std::string& subject_of,
               const std::string& peer_of) const;
};

struct StreamSummary {
  unsigned worker = 0;
  std::uint64_t serial = 0;  // unique per worker: "<worker>-<serial>" names the stream
  std::string peer;          // client address
  std::string subject;       // "" for anonymous streams
  std::string auth;          // how it was admitted: anonymous, token, jwt, signed_url, delegate
  std::vector<std::string> topics;   // its subscriptions, patterns as written ("a.*")
  std::string protocol;              // "h1" or "h1+tls", as the access log says
  std::uint64_t age_ms = 0;          // since the stream started
  std::uint64_t events_sent = 0;     // events queued to it (live and replayed)
  std::uint64_t bytes_sent = 0;      // written to its socket
  std::uint64_t buffered_bytes = 0;  // queued and not yet written
};

struct StreamListing {
  std::size_t total = 0;               // streams that matched
  std::vector<StreamSummary> streams;  // the oldest first, at most the filter's limit
};

// The oldest `limit` streams of several listings (each sorted oldest first), and their total.
StreamListing merge_stream_listings(std::vector<StreamListing> parts, std::size_t limit);

}  // namespace sidecar
