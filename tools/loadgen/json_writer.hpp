// Builds the one-line JSON reports the commands print. Keys keep the order they were added in,
// so reports diff cleanly between runs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace loadgen {

// Appends `text` to `out` as a quoted JSON string.
void append_json_quoted(std::string& out, std::string_view text);
inline std::string json_quote(std::string_view text) {
  std::string out;
  append_json_quoted(out, text);
  return out;
}

class JsonObject {
 public:
  JsonObject& add_int(std::string_view key, int64_t value);
  JsonObject& add_uint(std::string_view key, uint64_t value);
  // Non-finite values become null, which JSON has no number for.
  JsonObject& add_double(std::string_view key, double value);
  JsonObject& add_bool(std::string_view key, bool value);
  JsonObject& add_string(std::string_view key, std::string_view value);
  // `json` must already be valid JSON (a nested object or array).
  JsonObject& add_raw(std::string_view key, std::string_view json);

  std::string str() const { return "{" + body_ + "}"; }

 private:
  void key(std::string_view k);

  std::string body_;
};

}  // namespace loadgen
