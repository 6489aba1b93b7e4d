// Matches a presented token against configured ones, each written either as it is or as
// "sha256:<hex>" of it (so the config file need not hold the secret). Every entry is kept and
// compared as a SHA-256 digest, in constant time, and every entry is always compared, so the
// time taken says nothing about which entry, or which byte, differed.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sidecar {

class TokenTable {
 public:
  // `configured` as in the config; REQUIRES: each is valid (the config loader checks).
  explicit TokenTable(const std::vector<std::string>& configured);

  // Index of the matching entry, or nullopt.
  std::optional<std::size_t> find(std::string_view presented) const;
  bool empty() const { return digests_.empty(); }

 private:
  std::vector<std::string> digests_;
};

}  // namespace sidecar
