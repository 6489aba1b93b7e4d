// The few cryptographic primitives the access checks need, on OpenSSL.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sidecar {

std::string sha256(std::string_view data);                             // 32 raw bytes
std::string hmac_sha256(std::string_view key, std::string_view data);  // 32 raw bytes
std::string to_hex(std::string_view bytes);
std::optional<std::string> from_hex(std::string_view hex);
std::string base64url_encode(std::string_view bytes);  // no padding
// Strict: URL alphabet only, no padding, zero leftover bits (one encoding per byte string).
std::optional<std::string> base64url_decode(std::string_view text);
// Equal length and content, in time independent of where they differ.
bool equal_constant_time(std::string_view a, std::string_view b);

}  // namespace sidecar
