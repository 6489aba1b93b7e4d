// Who is publishing, and may they publish this: publisher identities (a token's name, a
// signed-request key, a socket peer), their topic restrictions and their publish rate.
// Lives on the hub's loop, shared by the socket and HTTP ingest.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sidecar/auth/token_table.hpp"
#include "sidecar/config/config.hpp"
#include "sidecar/core/event_draft.hpp"
#include "sidecar/core/rate_limiter.hpp"
#include "sidecar/core/topic.hpp"

namespace sidecar {

struct Publisher {
  std::string name;                  // for logs and rate limits; never a secret
  std::vector<TopicPattern> topics;  // empty = any topic
};

struct PublishCheck {
  int status = 200;     // 200, or the HTTP status to refuse with (401, 403, 429)
  std::string error;    // one line
  int retry_after = 0;  // seconds, for 429
  bool ok() const { return status == 200; }
};

class PublisherAccess {
 public:
  explicit PublisherAccess(const Config& config);

  // HTTP: a bearer token, or an HMAC-SHA256 signature over timestamp, method, target and body.
  // `authorization`, `timestamp` and `signature` are the request's header values (may be empty).
  std::optional<Publisher> authenticate_http(std::string_view authorization,
                                             std::string_view timestamp, std::string_view signature,
                                             std::string_view method, std::string_view target,
                                             std::string_view body, std::int64_t now_unix,
                                             PublishCheck& refusal) const;
  // Socket: whether a peer with these credentials may connect, and as whom.
  std::optional<Publisher> authenticate_peer(std::uint32_t uid, std::uint32_t gid,
                                             PublishCheck& refusal) const;
  // Whether the publisher's topic restrictions let it use `topic` (403 if not).
  static PublishCheck allows(const Publisher& publisher, std::string_view topic);
  // Topic restrictions and the rate limit, for one event.
  PublishCheck admit(const Publisher& publisher, const EventDraft& draft);

  bool http_enabled() const { return !tokens_.empty() || !hmac_secret_.empty(); }

 private:
  std::vector<Publisher> token_publishers_;
  TokenTable tokens_;
  std::string hmac_secret_;
  std::chrono::seconds hmac_window_;
  std::vector<TopicPattern> hmac_topics_;
  std::vector<std::uint32_t> uids_;
  std::vector<std::uint32_t> gids_;
  std::vector<TopicPattern> socket_topics_;
  RateLimiter rate_;
};

// The string an HMAC-signed publish request signs (documented for publishers):
//   "<timestamp>\n<METHOD> <target>\n<body>"
std::string publish_signing_string(std::string_view timestamp, std::string_view method,
                                   std::string_view target, std::string_view body);

}  // namespace sidecar
