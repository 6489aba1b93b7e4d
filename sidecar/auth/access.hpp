// The one interface through which every stream request is admitted or refused: origin policy
// and subscriber credentials both sit behind it, so new methods (tokens, JWT, delegation to the
// app) plug in without touching the stream code.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sidecar/config/config.hpp"
#include "sidecar/core/topic.hpp"

namespace sidecar {

// What the stream listener knows about a request when it asks for access. Views point into the
// connection's request and stay valid until the decision is delivered.
struct AccessRequest {
  std::string_view origin;         // "Origin" header, empty when absent
  std::string_view authorization;  // "Authorization" header
  std::string_view cookie;         // "Cookie" header
  std::string_view access_token;   // `access_token` query parameter
  std::string_view peer;           // client address, for logs and per-IP limits
  const std::vector<TopicPattern>* topics = nullptr;
};

struct AccessDecision {
  int status = 200;     // 200 to admit; otherwise the HTTP status to refuse with (401, 403, 503)
  std::string reason;   // one line for the client when refused; never holds a secret
  std::string subject;  // who was admitted ("anonymous" without credentials)
  // Response headers to add for an allowed origin (CORS); empty when none apply.
  std::vector<std::pair<std::string, std::string>> cors_headers;

  bool allowed() const { return status == 200; }
};

// One per worker loop; called on that loop only. `decide` calls `done` exactly once, either
// before returning or later on the same loop (for methods that ask another service). If the
// connection goes away first, the worker ignores the late decision.
class AccessPolicy {
 public:
  using Done = std::function<void(AccessDecision)>;
  virtual ~AccessPolicy() = default;
  virtual void decide(const AccessRequest& request, Done done) = 0;
  // CORS answer for a preflight; status 403 when the origin is not allowed.
  virtual AccessDecision preflight(std::string_view origin) = 0;
};

// The policy the configuration describes, for one worker loop.
std::unique_ptr<AccessPolicy> make_access_policy(const Config& config);

}  // namespace sidecar
