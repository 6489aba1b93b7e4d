// Prometheus text exposition of the shared counters.
#pragma once

#include <string>

#include "sidecar/core/metrics.hpp"
#include "sidecar/hub/history.hpp"

namespace sidecar {

std::string render_metrics(const Metrics& metrics, const HistoryStats& history);

}  // namespace sidecar
