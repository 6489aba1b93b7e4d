#include "tools/loadgen/payload.hpp"

#include <charconv>

namespace loadgen {

namespace {

// Appends "<prefix><value><suffix>" without a temporary string.
void append_number(std::string& out, std::string_view prefix, uint64_t value, char suffix) {
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof buf, value);
  out.append(prefix);
  out.append(buf, res.ptr);
  out.push_back(suffix);
}

void pad(std::string& out, size_t start, size_t size) {
  size_t written = out.size() - start;
  if (written < size) out.append(size - written, 'x');
}

// Reads digits from `p` up to `end`, which must then be followed by `stop`; advances `p` past
// `stop`.
bool read_number(const char*& p, const char* end, char stop, uint64_t& value) {
  auto [next, ec] = std::from_chars(p, end, value);
  if (ec != std::errc() || next == p || next == end || *next != stop) return false;
  p = next + 1;
  return true;
}

}  // namespace

void append_payload(std::string& out, int64_t send_ns, size_t size) {
  size_t start = out.size();
  char buf[32];
  buf[0] = 't';
  buf[1] = '=';
  auto res = std::to_chars(buf + 2, buf + sizeof buf - 1, send_ns);
  *res.ptr++ = ';';
  out.append(buf, res.ptr);
  pad(out, start, size);
}

void append_sequenced_payload(std::string& out, int64_t send_ns, uint64_t topic, uint64_t seq,
                              size_t size) {
  size_t start = out.size();
  append_payload(out, send_ns, 0);
  append_number(out, "q=", topic, '.');
  append_number(out, "", seq, ';');
  pad(out, start, size);
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

std::optional<PayloadSequence> payload_sequence(std::string_view data) {
  if (!payload_timestamp(data)) return std::nullopt;
  const char* p = data.data() + data.find(';') + 1;
  const char* end = data.data() + data.size();
  if (end - p < 2 || p[0] != 'q' || p[1] != '=') return std::nullopt;
  p += 2;
  PayloadSequence s{};
  if (!read_number(p, end, '.', s.topic) || !read_number(p, end, ';', s.seq)) return std::nullopt;
  return s;
}

}  // namespace loadgen
