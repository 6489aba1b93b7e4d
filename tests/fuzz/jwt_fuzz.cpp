// Tokens from the network: the verifier must refuse anything not signed by a configured key,
// without crashing, and never accept a token the fuzzer could forge (it does not know the key).
// An input starting with '{' is instead a header and claims ("HEADER\nCLAIMS", or only claims)
// that the target signs with the key, so the claims parser, reached only past a good signature,
// is fuzzed too: whatever it accepts must be a sane grant.
#include <cstddef>
#include <cstdint>
#include <string>

#include "sidecar/auth/jwt_verifier.hpp"
#include "sidecar/core/crypto.hpp"
#include "sidecar/core/topic.hpp"

namespace {

const std::string kKey(32, 'k');

std::string signed_token(std::string_view input) {
  std::string_view header = R"({"alg":"HS256","typ":"JWT"})";
  std::string_view claims = input;
  if (auto nl = input.find('\n'); nl != std::string_view::npos) {
    header = input.substr(0, nl);
    claims = input.substr(nl + 1);
  }
  std::string token = sidecar::base64url_encode(header) + "." + sidecar::base64url_encode(claims);
  return token + "." + sidecar::base64url_encode(sidecar::hmac_sha256(kKey, token));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto verifier = [] {
    sidecar::JwtRules rules;
    rules.keys.push_back({"HS256", "", kKey});
    rules.topics_claim = "topics";
    std::string error;
    return sidecar::JwtVerifier::create(rules, error);
  }();
  std::string_view input(reinterpret_cast<const char*>(data), size);
  sidecar::JwtGrant grant;
  std::string error;
  if (!input.starts_with('{')) {
    if (verifier->verify(input, 1800000000, grant, error)) __builtin_trap();
    if (error.empty()) __builtin_trap();
    return 0;
  }
  if (verifier->verify(signed_token(input), 1800000000, grant, error)) {
    if (grant.subject.empty() || !error.empty()) __builtin_trap();
    for (const auto& topic : grant.topics) {
      if (!sidecar::TopicPattern::parse(topic)) __builtin_trap();
    }
  } else if (error.empty()) {
    __builtin_trap();
  }
  return 0;
}
