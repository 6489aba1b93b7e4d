#include "tools/loadgen/index_template.hpp"

#include <charconv>

namespace loadgen {

std::optional<IndexTemplate> IndexTemplate::parse(std::string_view text, std::string& error) {
  IndexTemplate t;
  std::string literal;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t open = text.find('{', pos);
    if (open == std::string_view::npos) {
      literal.append(text.substr(pos));
      break;
    }
    literal.append(text.substr(pos, open - pos));
    size_t close = text.find('}', open);
    if (close == std::string_view::npos) {
      error = "unclosed '{' in '" + std::string(text) + "'";
      return std::nullopt;
    }
    std::string_view inner = text.substr(open + 1, close - open - 1);
    Part part;
    if (inner == "i") {
      part.modulo = 0;
    } else if (inner.substr(0, 2) == "i%") {
      std::string_view digits = inner.substr(2);
      uint64_t k = 0;
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), k);
      if (ec != std::errc() || end != digits.data() + digits.size() || k == 0) {
        error = "bad placeholder {" + std::string(inner) + "}: expected {i} or {i%K} with K > 0";
        return std::nullopt;
      }
      part.modulo = k;
    } else {
      error = "unknown placeholder {" + std::string(inner) + "}: expected {i} or {i%K}";
      return std::nullopt;
    }
    if (!literal.empty()) t.parts_.push_back({std::move(literal), kLiteral});
    literal.clear();
    t.parts_.push_back(std::move(part));
    pos = close + 1;
  }
  if (!literal.empty()) t.parts_.push_back({std::move(literal), kLiteral});
  return t;
}

bool IndexTemplate::has_index() const {
  for (const Part& p : parts_) {
    if (p.modulo != kLiteral) return true;
  }
  return false;
}

void IndexTemplate::expand(uint64_t i, std::string& out) const {
  for (const Part& p : parts_) {
    if (p.modulo == kLiteral) {
      out += p.literal;
    } else {
      char buf[24];
      uint64_t v = p.modulo ? i % p.modulo : i;
      auto res = std::to_chars(buf, buf + sizeof buf, v);
      out.append(buf, res.ptr);
    }
  }
}

}  // namespace loadgen
