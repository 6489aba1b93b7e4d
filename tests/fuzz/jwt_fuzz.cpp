// Tokens from the network: the verifier must refuse anything not signed by a configured key,
// without crashing, and never accept a token the fuzzer could forge (it does not know the key).
#include <cstddef>
#include <cstdint>
#include <string>

#include "sidecar/auth/jwt_verifier.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto verifier = [] {
    sidecar::JwtRules rules;
    rules.keys.push_back({"HS256", "", std::string(32, 'k')});
    std::string error;
    return sidecar::JwtVerifier::create(rules, error);
  }();
  std::string_view token(reinterpret_cast<const char*>(data), size);
  sidecar::JwtGrant grant;
  std::string error;
  if (verifier->verify(token, 1800000000, grant, error)) __builtin_trap();
  if (error.empty()) __builtin_trap();
  return 0;
}
