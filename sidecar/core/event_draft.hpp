// What a publisher asks for, after ingest has validated it and before the hub assigns an id.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sidecar {

struct EventDraft {
  std::vector<std::string> topics;     // valid topic names, no duplicates
  std::string name;                    // SSE `event:`; empty for the default "message"
  std::string data;                    // payload; split into `data:` lines
  std::optional<std::uint32_t> retry;  // SSE `retry:` in milliseconds
  // A publisher retrying after a timeout sends the same key: within history.max_age the retry
  // gets the first publish's id instead of making a second event. "" = none.
  std::string idempotency_key;
};

}  // namespace sidecar
