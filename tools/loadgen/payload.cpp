#include "tools/loadgen/payload.hpp"

#include <charconv>

namespace loadgen {

void append_payload(std::string& out, int64_t send_ns, size_t size) {
  size_t start = out.size();
  char buf[32];
  buf[0] = 't';
  buf[1] = '=';
  auto res = std::to_chars(buf + 2, buf + sizeof buf - 1, send_ns);
  *res.ptr++ = ';';
  out.append(buf, res.ptr);
  size_t written = out.size() - start;
  if (written < size) out.append(size - written, 'x');
}

std::optional<int64_t> payload_timestamp(std::string_view data) {
  if (data.size() < 4 || data[0] != 't' || data[1] != '=') return std::nullopt;
  int64_t value = 0;
  auto [end, ec] = std::from_chars(data.data() + 2, data.data() + data.size(), value);
  if (ec != std::errc() || end == data.data() + 2 || end == data.data() + data.size() ||
      *end != ';') {
    return std::nullopt;
  }
  return value;
}

}  // namespace loadgen
