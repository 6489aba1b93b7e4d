#include "sidecar/ingest/publisher_access.hpp"

#include <algorithm>

#include "sidecar/core/crypto.hpp"
#include "sidecar/core/units.hpp"

namespace sidecar {
namespace {

std::vector<std::string> token_texts(const std::vector<PublisherToken>& tokens) {
  std::vector<std::string> out;
  out.reserve(tokens.size());
  for (const auto& t : tokens) out.push_back(t.token);
  return out;
}

}  // namespace

std::string publish_signing_string(std::string_view timestamp, std::string_view method,
                                   std::string_view target, std::string_view body) {
  std::string s;
  s.reserve(timestamp.size() + method.size() + target.size() + body.size() + 3);
  s.append(timestamp).append("\n").append(method).append(" ").append(target).append("\n");
  s.append(body);
  return s;
}

PublisherAccess::PublisherAccess(const Config& config)
    : tokens_(token_texts(config.publish.tokens)),
      hmac_secret_(config.publish.hmac_secret),
      hmac_window_(std::chrono::duration_cast<std::chrono::seconds>(config.publish.hmac_window)),
      hmac_topics_(TopicPattern::parse_all(config.publish.hmac_topics)),
      uids_(config.publish.allowed_uids),
      gids_(config.publish.allowed_gids),
      socket_topics_(TopicPattern::parse_all(config.publish.socket_topics)),
      rate_(config.publish.rate, static_cast<double>(config.publish.burst)) {
  for (std::size_t i = 0; i < config.publish.tokens.size(); ++i) {
    const auto& t = config.publish.tokens[i];
    token_publishers_.push_back({t.name.empty() ? "token#" + std::to_string(i + 1) : t.name,
                                 TopicPattern::parse_all(t.topics)});
  }
}

std::optional<Publisher> PublisherAccess::authenticate_http(
    std::string_view authorization, std::string_view timestamp, std::string_view signature,
    std::string_view method, std::string_view target, std::string_view body, std::int64_t now_unix,
    PublishCheck& refusal) const {
  if (!http_enabled()) {
    refusal = {403,
               "HTTP publishing is disabled: configure publish.tokens or publish.hmac_secret_file",
               0};
    return std::nullopt;
  }
  if (authorization.starts_with("Bearer ")) {
    if (auto index = tokens_.find(authorization.substr(7))) return token_publishers_[*index];
    refusal = {401, "invalid publisher token", 0};
    return std::nullopt;
  }
  if (!signature.empty() && !hmac_secret_.empty()) {
    auto ts = parse_uint(timestamp);
    if (!ts) {
      refusal = {401, "signed request needs X-Sidecar-Timestamp (unix seconds)", 0};
      return std::nullopt;
    }
    // Outside the window a captured request cannot be replayed, whatever it signed.
    std::int64_t skew = now_unix - static_cast<std::int64_t>(*ts);
    if (skew > hmac_window_.count() || -skew > hmac_window_.count()) {
      refusal = {401, "signed request timestamp outside the accepted window", 0};
      return std::nullopt;
    }
    std::string_view hex = signature.starts_with("sha256=") ? signature.substr(7) : signature;
    auto given = from_hex(hex);
    std::string expected =
        hmac_sha256(hmac_secret_, publish_signing_string(timestamp, method, target, body));
    if (!given || !equal_constant_time(*given, expected)) {
      refusal = {401, "invalid request signature", 0};
      return std::nullopt;
    }
    return Publisher{"hmac", hmac_topics_};
  }
  refusal = {401, "publisher credentials required (Authorization: Bearer, or a signed request)", 0};
  return std::nullopt;
}

std::optional<Publisher> PublisherAccess::authenticate_peer(std::uint32_t uid, std::uint32_t gid,
                                                            PublishCheck& refusal) const {
  bool any = uids_.empty() && gids_.empty();
  bool listed = std::find(uids_.begin(), uids_.end(), uid) != uids_.end() ||
                std::find(gids_.begin(), gids_.end(), gid) != gids_.end();
  if (!any && !listed) {
    refusal = {403,
               "peer uid " + std::to_string(uid) + " gid " + std::to_string(gid) +
                   " is not allowed to publish",
               0};
    return std::nullopt;
  }
  return Publisher{"uid:" + std::to_string(uid), socket_topics_};
}

PublishCheck PublisherAccess::allows(const Publisher& publisher, std::string_view topic) {
  if (publisher.topics.empty()) return {};
  bool allowed = std::any_of(publisher.topics.begin(), publisher.topics.end(),
                             [&](const TopicPattern& p) { return p.matches(topic); });
  if (allowed) return {};
  return {403, "publisher may not use topic '" + std::string(topic) + "'", 0};
}

PublishCheck PublisherAccess::admit(const Publisher& publisher, const EventDraft& draft) {
  for (const auto& topic : draft.topics) {
    if (PublishCheck check = allows(publisher, topic); !check.ok()) return check;
  }
  int retry_after = 0;
  if (!rate_.take(publisher.name, RateLimiter::Clock::now(), 1, retry_after)) {
    return {429, "publish rate limit exceeded; retry in " + std::to_string(retry_after) + "s",
            retry_after};
  }
  return {};
}

}  // namespace sidecar
