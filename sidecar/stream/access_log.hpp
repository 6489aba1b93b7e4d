// The access log line of a stream that ends (log.access): who, how they were let in, what they
// read, for how long, and why it ended. It never holds a credential.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sidecar/auth/access.hpp"
#include "sidecar/core/close_reason.hpp"
#include "sidecar/core/topic.hpp"

namespace sidecar {

struct AccessLogEntry {
  std::string_view peer;
  const AccessDecision* decision = nullptr;
  const std::vector<TopicPattern>* topics = nullptr;
  std::chrono::milliseconds duration{0};
  std::uint64_t events = 0;
  std::uint64_t bytes = 0;
  CloseReason reason = CloseReason::kClient;
  // How it was served: "h1" or "h2c" (on listen.sse), "h1+tls" or "h2" (on listen.sse_tls).
  std::string_view protocol = "h1";
};

std::string access_line(const AccessLogEntry& entry);

// `"…"` with quotes, backslashes and control characters escaped: subjects come from credentials
// (a JWT's "sub") and must not be able to forge fields in the log.
void append_quoted(std::string& out, std::string_view value);

}  // namespace sidecar
