// A text with placeholders for a connection or topic index: `{i}` becomes the index, `{i%K}`
// the index modulo K (so N subscribers can share K topics). Parsed once, expanded per use
// without allocating beyond the output string.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace loadgen {

class IndexTemplate {
 public:
  // nullopt with `error` set for an unknown or malformed `{...}` placeholder.
  static std::optional<IndexTemplate> parse(std::string_view text, std::string& error);

  bool has_index() const;
  // Appends the text for index i to `out`.
  void expand(uint64_t i, std::string& out) const;
  std::string expand(uint64_t i) const {
    std::string out;
    expand(i, out);
    return out;
  }

 private:
  struct Part {
    std::string literal;  // used when modulo == kLiteral
    uint64_t modulo = 0;  // 0: the plain index
  };
  static constexpr uint64_t kLiteral = UINT64_MAX;

  std::vector<Part> parts_;
};

}  // namespace loadgen
