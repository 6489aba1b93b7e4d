// Signed stream URLs, in the spirit of nginx's secure_link: the app grants a browser access to
// some topics until a time with one HMAC call, no JWT library needed.
//
//   /events?topic=A&topic=B&subject=S&expires=E&signature=SIG
//   SIG = base64url(HMAC-SHA256(secret, E + "\n" + S + "\n" + "A,B"))   (topics in URL order)
//
// A leaked URL stops working at E; changing a topic, the subject or E breaks the signature.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sidecar {

struct SignedUrl {
  std::string subject;
  std::string expires;              // unix seconds, as sent
  std::string signature;            // base64url
  std::vector<std::string> topics;  // as in the URL, in order

  bool present() const { return !signature.empty(); }
};

std::string signed_url_signature(std::string_view secret, std::string_view expires,
                                 std::string_view subject, const std::vector<std::string>& topics);

// Empty when valid at `now` (unix seconds) and no further ahead than `max_lifetime_s`;
// otherwise a one-line reason. `expires_at` receives the expiry.
std::string verify_signed_url(const SignedUrl& url, std::string_view secret, std::int64_t now,
                              std::int64_t max_lifetime_s, std::int64_t& expires_at);

}  // namespace sidecar
