// The SSE wire format (WHATWG HTML, "Server-sent events") and its HTTP/1.1 chunk wrapping.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sidecar {

// Appends one event: `id:`, `event:` when named, `retry:` when set, one `data:` line per line
// of `data` (CRLF, CR and LF all end a line), then the blank line that dispatches it.
// `id` and `name` must be free of CR, LF and NUL (ingest refuses such names).
void append_sse_event(std::string& out, std::string_view id, std::string_view name,
                      std::string_view data, std::optional<std::uint32_t> retry);
// The same event without its `id:` line, which comes first: a shared engine encodes an event
// before its id exists, and prepends "id: <id>\n" once it does.
void append_sse_fields(std::string& out, std::string_view name, std::string_view data,
                       std::optional<std::uint32_t> retry);

// Appends "<hex size>\r\n<payload>\r\n"; `payload` must not be empty (that ends the stream).
void append_chunk(std::string& out, std::string_view payload);

// The chunk that ends a chunked response.
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

// Whether `text` may be used as an SSE field value: no CR, LF or NUL.
bool is_safe_field_value(std::string_view text);

}  // namespace sidecar
