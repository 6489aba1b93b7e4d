// Process-wide logging setup (spdlog): text or one JSON object per line, level from config.
#pragma once

#include "sidecar/config/config.hpp"

namespace sidecar {

void configure_logging(const LogConfig& config);

}  // namespace sidecar
