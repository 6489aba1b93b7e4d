// The one interface through which every stream request is admitted or refused: origin policy
// and every subscriber credential method sit behind it, so the stream code does not change
// when a method is added.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sidecar/auth/origin_policy.hpp"
#include "sidecar/auth/signed_url.hpp"
#include "sidecar/config/config.hpp"
#include "sidecar/config/config_loader.hpp"
#include "sidecar/core/topic.hpp"
#include "sidecar/net/libevent.hpp"

namespace sidecar {

// What the policy is asked about, owned, so that a decision may come later (delegation) and
// the same request can be re-examined after a reload (revocation). Holds credentials: never log.
struct AccessRequest {
  std::string origin;    // Origin header; "" when absent
  std::string token;     // Authorization: Bearer, else access_token, else the configured cookie
  SignedUrl signed_url;  // present() when the URL carries a signature
  HeaderList forwarded;  // the headers access.delegate.forward_headers lists, as received
  std::string peer;      // client address
  std::vector<TopicPattern> topics;  // what the stream asks for (normalised)
};

enum class AccessMethod : std::uint8_t { kNone, kAnonymous, kToken, kJwt, kSignedUrl, kDelegate };
std::string_view to_string(AccessMethod method);

struct AccessDecision {
  int status = 200;     // 200 admits; else the HTTP status to refuse with (401, 403, 503)
  std::string reason;   // one line for the client when refused; never holds a secret
  std::string subject;  // who was admitted ("anonymous" without credentials)
  AccessMethod method = AccessMethod::kNone;
  std::optional<std::int64_t> expires_at;  // unix seconds: the stream ends then
  HeaderList cors_headers;                 // for an allowed origin; also sent with refusals

  bool allowed() const { return status == 200; }
};

// One per worker loop; called on that loop only.
class AccessPolicy {
 public:
  using Done = std::function<void(AccessDecision)>;
  virtual ~AccessPolicy() = default;

  // Calls `done` exactly once, before returning or later on the same loop (methods that ask
  // another service). The worker ignores a late decision for a connection that has gone.
  virtual void decide(const AccessRequest& request, Done done) = 0;
  // CORS answer for a preflight; status 403 when the origin is not allowed.
  virtual AccessDecision preflight(std::string_view origin) = 0;
  // After a reload: whether an open stream admitted by `admitted` may stay under this (new)
  // policy. Synchronous; a delegated grant keeps standing until the stream ends.
  virtual AccessDecision recheck(const AccessRequest& request, const AccessDecision& admitted) = 0;
};

// Problems in the access configuration that need more than the config loader checks (key
// files that do not hold usable keys), each located where the config names the file; empty
// when there are none.
std::vector<ConfigProblem> access_config_problems(const Config& config);

// The policy the configuration describes, for one worker loop (`base` drives any outbound
// calls it makes). REQUIRES: access_config_problems(config) is empty.
std::unique_ptr<AccessPolicy> make_access_policy(const Config& config, event_base* base);

}  // namespace sidecar
