#include "tools/loadgen/delivery_window.hpp"

#include <algorithm>

namespace loadgen {

void DeliveryWindow::add(int64_t receive_ns, std::optional<int64_t> stamp_ns) {
  if (count_++ == 0) first_receive_ns_ = receive_ns;
  last_receive_ns_ = receive_ns;
  if (!stamp_ns) return;
  if (!stamped_) {
    earliest_stamp_ns_ = latest_stamp_ns_ = *stamp_ns;
    stamped_ = true;
    return;
  }
  // Streams are read in no particular order, so stamps arrive out of order across them.
  earliest_stamp_ns_ = std::min(earliest_stamp_ns_, *stamp_ns);
  latest_stamp_ns_ = std::max(latest_stamp_ns_, *stamp_ns);
}

double DeliveryWindow::per_second() const {
  double span_s = static_cast<double>(last_receive_ns_ - first_receive_ns_) / 1e9;
  return span_s > 0 ? static_cast<double>(count_) / span_s : 0;
}

int64_t DeliveryWindow::earliest_stamp_to_last_receive_ns() const {
  return stamped_ ? last_receive_ns_ - earliest_stamp_ns_ : 0;
}

}  // namespace loadgen
