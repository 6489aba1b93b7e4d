#include "sidecar/auth/token_table.hpp"

#include "sidecar/core/crypto.hpp"

namespace sidecar {

TokenTable::TokenTable(const std::vector<std::string>& configured) {
  for (const auto& token : configured) {
    if (token.starts_with("sha256:")) {
      digests_.push_back(from_hex(std::string_view(token).substr(7)).value_or(""));
    } else {
      digests_.push_back(sha256(token));
    }
  }
}

std::optional<std::size_t> TokenTable::find(std::string_view presented) const {
  if (presented.empty()) return std::nullopt;
  std::string digest = sha256(presented);
  std::optional<std::size_t> found;
  for (std::size_t i = 0; i < digests_.size(); ++i) {
    if (equal_constant_time(digest, digests_[i]) && !found) found = i;
  }
  return found;
}

}  // namespace sidecar
