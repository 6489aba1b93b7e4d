// The benchmark's event payload: "t=<CLOCK_REALTIME ns>;" padded with 'x' to a chosen size. The
// subscriber subtracts the embedded send time from its receive time to get the delivery
// latency; the padding sets the event size under test.
//
// A sequenced payload also says which topic index it went to and its number on that topic,
// "t=<ns>;q=<topic>.<seq>;", so a subscriber can tell lost and duplicated events apart.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace loadgen {

// Appends the payload stamped `send_ns`, `size` bytes long (longer only when `size` is smaller
// than the stamp itself).
void append_payload(std::string& out, int64_t send_ns, size_t size);

// As append_payload, with the topic index and the event's number on it after the stamp.
void append_sequenced_payload(std::string& out, int64_t send_ns, uint64_t topic, uint64_t seq,
                              size_t size);

// The send time of a payload starting with "t=<digits>;", or nullopt.
std::optional<int64_t> payload_timestamp(std::string_view data);

struct PayloadSequence {
  uint64_t topic;
  uint64_t seq;
};

// The topic index and number of a sequenced payload ("t=<digits>;q=<digits>.<digits>;"), or
// nullopt for any other payload.
std::optional<PayloadSequence> payload_sequence(std::string_view data);

}  // namespace loadgen
