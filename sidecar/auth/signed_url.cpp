#include "sidecar/auth/signed_url.hpp"

#include "sidecar/core/crypto.hpp"
#include "sidecar/core/units.hpp"

namespace sidecar {

std::string signed_url_signature(std::string_view secret, std::string_view expires,
                                 std::string_view subject, const std::vector<std::string>& topics) {
  std::string message;
  message.append(expires).append("\n").append(subject).append("\n");
  for (std::size_t i = 0; i < topics.size(); ++i) {
    if (i) message.push_back(',');
    message.append(topics[i]);
  }
  return base64url_encode(hmac_sha256(secret, message));
}

std::string verify_signed_url(const SignedUrl& url, std::string_view secret, std::int64_t now,
                              std::int64_t max_lifetime_s, std::int64_t& expires_at) {
  auto expires = parse_uint(url.expires);
  if (url.subject.empty() || !expires) return "signed URL needs subject and expires";
  std::string expected = signed_url_signature(secret, url.expires, url.subject, url.topics);
  // Compare decoded bytes so padding or case tricks cannot matter; always compare.
  auto given = base64url_decode(url.signature);
  if (!given || !equal_constant_time(*given, *base64url_decode(expected))) {
    return "invalid signature";
  }
  expires_at = static_cast<std::int64_t>(*expires);
  if (expires_at <= now) return "signed URL expired";
  if (expires_at - now > max_lifetime_s) return "signed URL expires too far in the future";
  return {};
}

}  // namespace sidecar
