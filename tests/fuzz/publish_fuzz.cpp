// Publisher bytes, fed in pieces through the line splitter and the message parser. Property:
// whatever a publisher sends, an accepted event encodes to exactly one SSE event whose lines
// are only the fields the sidecar writes (no injected id/event/retry, no early blank line).
#include <cstddef>
#include <cstdint>
#include <string>

#include "sidecar/ingest/line_splitter.hpp"
#include "sidecar/ingest/publish_message.hpp"
#include "sidecar/sse/event.hpp"

namespace {

void check_frame(std::string_view frame) {
  if (frame.size() < 2 || !frame.ends_with("\n\n")) __builtin_trap();
  std::string_view body = frame.substr(0, frame.size() - 1);  // every line ends with '\n'
  bool seen_data = false;
  int ids = 0;
  while (!body.empty()) {
    auto nl = body.find('\n');
    std::string_view line = body.substr(0, nl);
    body.remove_prefix(nl + 1);
    if (line.find('\r') != std::string_view::npos) __builtin_trap();
    if (line.starts_with("data:")) {
      seen_data = true;
    } else if (seen_data) {
      __builtin_trap();  // only data lines follow the first data line
    } else if (line.starts_with("id: ")) {
      ++ids;
    } else if (!line.starts_with("event: ") && !line.starts_with("retry: ")) {
      __builtin_trap();  // includes an empty line: that would end the event early
    }
  }
  if (!seen_data || ids != 1) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  // The first byte picks the read size, so lines are split at varying places.
  std::size_t step = 1 + data[0] % 64;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  sidecar::LineSplitter lines(256);
  for (std::size_t at = 0; at < input.size(); at += step) {
    lines.append(input.substr(at, step));
    for (auto item = lines.next(); item.kind != sidecar::LineSplitter::Kind::kNone;
         item = lines.next()) {
      if (item.kind != sidecar::LineSplitter::Kind::kLine) continue;
      if (item.line.size() > 256) __builtin_trap();
      auto message = sidecar::parse_publish_line(item.line, 4096);
      if (!message.ok || message.replies) continue;  // a control line makes no event
      auto event = sidecar::Event::create(sidecar::EventId{1, 2}, message.draft,
                                          sidecar::Event::Clock::now());
      check_frame(event->plain());
    }
  }
  if (lines.buffered() > 256 + step) __builtin_trap();
  return 0;
}
