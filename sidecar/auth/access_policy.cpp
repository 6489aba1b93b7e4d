// The access policy built from configuration. Order of evaluation for a stream request:
//   1. the Origin must be allowed (else 403, before any stream byte);
//   2. a signed URL, if the URL carries a signature, is the credential;
//   3. else a presented token is tried as a static token, then as a JWT;
//   4. else, with only public topics requested, the stream is anonymous;
//   5. whatever is still undecided (no credential, or one not recognised here) goes to the
//      app when delegation is configured, and is refused with 401 otherwise.
// A credential grants a subject and topic patterns; every requested topic must be covered by
// those or by the public patterns, or the request is refused with 403.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "sidecar/auth/access.hpp"
#include "sidecar/auth/delegated_auth.hpp"
#include "sidecar/auth/jwt_verifier.hpp"
#include "sidecar/auth/token_table.hpp"
#include "sidecar/core/wall_clock.hpp"

namespace sidecar {

std::string_view to_string(AccessMethod method) {
  switch (method) {
    case AccessMethod::kNone:
      return "none";
    case AccessMethod::kAnonymous:
      return "anonymous";
    case AccessMethod::kToken:
      return "token";
    case AccessMethod::kJwt:
      return "jwt";
    case AccessMethod::kSignedUrl:
      return "signed_url";
    case AccessMethod::kDelegate:
      return "delegate";
  }
  return "none";
}

namespace {

JwtRules jwt_rules(const JwtConfig& c) {
  JwtRules rules;
  for (const auto& k : c.keys) rules.keys.push_back({k.algorithm, k.kid, k.material});
  rules.issuer = c.issuer;
  rules.audience = c.audience;
  rules.leeway_seconds = c.leeway.count() / 1000;
  rules.topics_claim = c.topics_claim;
  rules.require_exp = c.require_exp;
  return rules;
}

AccessDecision refuse(int status, std::string reason, AccessMethod method = AccessMethod::kNone) {
  AccessDecision d;
  d.status = status;
  d.reason = std::move(reason);
  d.method = method;
  return d;
}

class ConfiguredAccessPolicy final : public AccessPolicy {
 public:
  ConfiguredAccessPolicy(const Config& config, event_base* base, std::unique_ptr<JwtVerifier> jwt)
      : origins_(config.cors),
        public_(TopicPattern::parse_all(config.access.public_topics)),
        jwt_(std::move(jwt)),
        signed_secret_(config.access.signed_urls.secret),
        signed_max_lifetime_s_(config.access.signed_urls.max_lifetime.count() / 1000),
        jwt_leeway_s_(config.access.jwt.leeway.count() / 1000) {
    std::vector<std::string> texts;
    for (const auto& t : config.access.tokens) {
      texts.push_back(t.token);
      token_grants_.push_back({t.subject, TopicPattern::parse_all(t.topics)});
    }
    tokens_ = TokenTable(texts);
    if (!config.access.delegate.url.empty()) {
      delegate_ = std::make_unique<DelegatedAuth>(config.access.delegate, base);
    }
  }

  void decide(const AccessRequest& r, Done done) override {
    if (auto why = origins_.refusal(r.origin); !why.empty()) return done(refuse(403, why));
    HeaderList cors = origins_.headers(r.origin);
    if (auto local = decide_locally(r)) {
      local->cors_headers = std::move(cors);
      return done(std::move(*local));
    }
    delegate_->ask(r, [this, topics = r.topics, cors = std::move(cors), done = std::move(done)](
                          AccessDecision d, const std::vector<TopicPattern>& granted) {
      if (d.allowed()) d = grant(d.subject, AccessMethod::kDelegate, granted, topics, std::nullopt);
      d.cors_headers = cors;
      done(std::move(d));
    });
  }

  AccessDecision preflight(std::string_view origin) override {
    if (auto why = origins_.refusal(origin); !why.empty()) return refuse(403, why);
    AccessDecision d;
    d.cors_headers = origins_.preflight_headers(origin);
    return d;
  }

  AccessDecision recheck(const AccessRequest& r, const AccessDecision& admitted) override {
    if (auto why = origins_.refusal(r.origin); !why.empty()) return refuse(403, why);
    if (admitted.method == AccessMethod::kDelegate) {
      // The app's answer stands until the stream ends; a reload cannot ask it synchronously.
      if (delegate_) return admitted;
      return refuse(403, "delegated access is no longer configured");
    }
    auto local = decide_locally(r);
    if (!local) return refuse(401, "credentials no longer accepted");
    return *local;
  }

 private:
  struct TokenGrant {
    std::string subject;
    std::vector<TopicPattern> topics;
  };

  // The decision every method but delegation reaches on its own; nullopt when the app must
  // be asked.
  std::optional<AccessDecision> decide_locally(const AccessRequest& r) {
    if (r.signed_url.present()) {
      if (signed_secret_.empty()) return refuse(401, "signed URLs are not enabled");
      std::int64_t expires_at = 0;
      std::string why = verify_signed_url(r.signed_url, signed_secret_, unix_seconds(),
                                          signed_max_lifetime_s_, expires_at);
      if (!why.empty()) return refuse(401, why, AccessMethod::kSignedUrl);
      return grant(r.signed_url.subject, AccessMethod::kSignedUrl,
                   TopicPattern::parse_all(r.signed_url.topics), r.topics, expires_at);
    }
    if (!r.token.empty()) {
      if (auto index = tokens_.find(r.token)) {
        const TokenGrant& g = token_grants_[*index];
        return grant(g.subject, AccessMethod::kToken, g.topics, r.topics, std::nullopt);
      }
      if (jwt_ && std::count(r.token.begin(), r.token.end(), '.') == 2) {
        JwtGrant claims;
        std::string why;
        if (!jwt_->verify(r.token, unix_seconds(), claims, why))
          return refuse(401, why, AccessMethod::kJwt);
        // Admitted within the leeway means the stream may run to the end of it, not that it
        // is admitted only to be closed at once.
        std::optional<std::int64_t> until = claims.expires_at;
        if (until) *until += jwt_leeway_s_;
        return grant(claims.subject, AccessMethod::kJwt, TopicPattern::parse_all(claims.topics),
                     r.topics, until);
      }
      if (delegate_) return std::nullopt;
      return refuse(401, "invalid credentials");
    }
    if (auto t = first_uncovered(r.topics, {}); !t) {
      return grant("anonymous", AccessMethod::kAnonymous, {}, r.topics, std::nullopt);
    }
    if (delegate_) return std::nullopt;
    return refuse(401,
                  "topic '" + first_uncovered(r.topics, {})->text() + "' requires credentials");
  }

  // The first requested topic neither `granted` nor the public patterns cover.
  std::optional<TopicPattern> first_uncovered(const std::vector<TopicPattern>& requested,
                                              const std::vector<TopicPattern>& granted) const {
    for (const auto& topic : requested) {
      auto covers = [&](const TopicPattern& p) { return p.covers(topic); };
      if (std::none_of(granted.begin(), granted.end(), covers) &&
          std::none_of(public_.begin(), public_.end(), covers)) {
        return topic;
      }
    }
    return std::nullopt;
  }

  AccessDecision grant(const std::string& subject, AccessMethod method,
                       const std::vector<TopicPattern>& granted,
                       const std::vector<TopicPattern>& requested,
                       std::optional<std::int64_t> expires_at) const {
    if (auto t = first_uncovered(requested, granted)) {
      return refuse(403, "topic '" + t->text() + "' is not granted to these credentials", method);
    }
    AccessDecision d;
    d.subject = subject;
    d.method = method;
    d.expires_at = expires_at;
    return d;
  }

  OriginPolicy origins_;
  std::vector<TopicPattern> public_;
  TokenTable tokens_{{}};
  std::vector<TokenGrant> token_grants_;
  std::unique_ptr<JwtVerifier> jwt_;
  std::string signed_secret_;
  std::int64_t signed_max_lifetime_s_;
  std::int64_t jwt_leeway_s_;
  std::unique_ptr<DelegatedAuth> delegate_;
};

}  // namespace

std::vector<ConfigProblem> access_config_problems(const Config& config) {
  std::vector<ConfigProblem> problems;
  const auto& keys = config.access.jwt.keys;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const JwtKeyConfig& k = keys[i];
    auto reason = JwtVerifier::key_problem({k.algorithm, k.kid, k.material});
    if (reason.empty()) continue;
    problems.push_back(
        {config.source, k.file_line, k.file_column,
         "'access.jwt.keys[" + std::to_string(i) + "].file': " + k.file + ": " + reason});
  }
  return problems;
}

std::unique_ptr<AccessPolicy> make_access_policy(const Config& config, event_base* base) {
  std::unique_ptr<JwtVerifier> jwt;
  if (!config.access.jwt.keys.empty()) {
    std::string error;
    jwt = JwtVerifier::create(jwt_rules(config.access.jwt), error);
    // access_config_problems() is checked before a config is used; this cannot happen then.
    if (!jwt) spdlog::error("access.jwt: {}", error);
  }
  return std::make_unique<ConfiguredAccessPolicy>(config, base, std::move(jwt));
}

}  // namespace sidecar
