// When a run's deliveries happened: the first and last receive times, and the earliest and
// latest send stamps among them. All CLOCK_REALTIME nanoseconds, so they compare with the
// publisher's own stamps (another process on the same host).
#pragma once

#include <cstdint>
#include <optional>

namespace loadgen {

class DeliveryWindow {
 public:
  // One delivery received at `receive_ns`; `stamp_ns` is its send stamp when it carried one.
  void add(int64_t receive_ns, std::optional<int64_t> stamp_ns);

  uint64_t count() const { return count_; }
  // 0 while empty.
  int64_t first_receive_ns() const { return first_receive_ns_; }
  int64_t last_receive_ns() const { return last_receive_ns_; }
  // 0 until a delivery carried a stamp.
  int64_t earliest_stamp_ns() const { return earliest_stamp_ns_; }
  int64_t latest_stamp_ns() const { return latest_stamp_ns_; }

  // Deliveries per second between the first and the last receive; 0 when they coincide.
  double per_second() const;
  // From the earliest send stamp to the last receive: the whole run as this subscriber saw it,
  // first publish to last delivery. 0 until a delivery carried a stamp.
  int64_t earliest_stamp_to_last_receive_ns() const;

 private:
  uint64_t count_ = 0;
  int64_t first_receive_ns_ = 0;
  int64_t last_receive_ns_ = 0;
  int64_t earliest_stamp_ns_ = 0;
  int64_t latest_stamp_ns_ = 0;
  bool stamped_ = false;
};

}  // namespace loadgen
