// The state file: what a graceful stop leaves for the next start so that browsers reconnecting
// after a restart resume with Last-Event-ID and miss nothing — the id epoch and sequence, and
// the retained history with each topic's eviction horizon.
//
// Format: one header line "sse-sidecar-state 1 <sha256 hex of the rest>", then one JSON
// object. Written to a temporary file, synced and renamed, so a crash mid-write leaves the
// previous file or none, never half of one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "sidecar/hub/history.hpp"

namespace sidecar {

struct SavedState {
  std::uint64_t epoch = 0;
  std::uint64_t last_seq = 0;
  HistorySnapshot history;
};

// False with `error` (one line) when the file cannot be written.
bool write_state_file(const std::string& path, const SavedState& state, std::string& error);

struct StateLoad {
  enum class Result : std::uint8_t { kMissing, kLoaded, kRejected };
  Result result = Result::kMissing;
  std::optional<SavedState> state;  // kLoaded
  std::string error;                // kRejected: why, in one line
};

// Reads and checks the file (integrity, format, version, consistency of every event).
// Events are given publish times as old as they were when saved plus the time since.
StateLoad read_state_file(const std::string& path);

}  // namespace sidecar
