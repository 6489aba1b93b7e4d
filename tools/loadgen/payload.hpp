// The benchmark's event payload: "t=<CLOCK_REALTIME ns>;" padded with 'x' to a chosen size. The
// subscriber subtracts the embedded send time from its receive time to get the delivery
// latency; the padding sets the event size under test.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace loadgen {

// Appends the payload stamped `send_ns`, `size` bytes long (longer only when `size` is smaller
// than the stamp itself).
void append_payload(std::string& out, int64_t send_ns, size_t size);

// The send time of a payload starting with "t=<digits>;", or nullopt.
std::optional<int64_t> payload_timestamp(std::string_view data);

}  // namespace loadgen
