// The access policy built from configuration: origin allowlist, then anonymous access to the
// configured public topic patterns. Credential methods are added here as they are configured.
#include <algorithm>

#include "sidecar/auth/access.hpp"
#include "sidecar/auth/origin_policy.hpp"

namespace sidecar {
namespace {

class ConfiguredAccessPolicy final : public AccessPolicy {
 public:
  explicit ConfiguredAccessPolicy(const Config& config) : origins_(config.cors) {
    for (const auto& text : config.access.public_topics) {
      if (auto p = TopicPattern::parse(text)) public_.push_back(*p);
    }
  }

  void decide(const AccessRequest& request, Done done) override {
    AccessDecision decision;
    if (!origins_.allows(request.origin)) {
      decision.status = 403;
      decision.reason = "origin not allowed";
      return done(std::move(decision));
    }
    decision.cors_headers = origins_.headers(request.origin);
    for (const auto& topic : *request.topics) {
      bool is_public = std::any_of(public_.begin(), public_.end(),
                                   [&](const TopicPattern& p) { return p.covers(topic); });
      if (is_public) continue;
      bool presented = !request.authorization.empty() || !request.access_token.empty();
      // No credential method is configured yet, so any presented credential is unknown.
      decision.status = 401;
      decision.reason = presented ? "invalid credentials for topic '" + topic.text() + "'"
                                  : "topic '" + topic.text() + "' requires credentials";
      return done(std::move(decision));
    }
    decision.subject = "anonymous";
    done(std::move(decision));
  }

  AccessDecision preflight(std::string_view origin) override {
    AccessDecision decision;
    if (!origins_.allows(origin)) {
      decision.status = 403;
      decision.reason = "origin not allowed";
      return decision;
    }
    decision.cors_headers = origins_.headers(origin);
    return decision;
  }

 private:
  OriginPolicy origins_;
  std::vector<TopicPattern> public_;
};

}  // namespace

std::unique_ptr<AccessPolicy> make_access_policy(const Config& config) {
  return std::make_unique<ConfiguredAccessPolicy>(config);
}

}  // namespace sidecar
