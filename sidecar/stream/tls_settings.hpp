// The TLS listener's certificate and key as the config names them: whether they are usable
// (for --check-config, startup and reload, reported on the lines that name the files), and the
// TLS context made from them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sidecar/config/config.hpp"
#include "sidecar/config/config_loader.hpp"
#include "sidecar/net/tls_context.hpp"

namespace sidecar {

struct TlsSettingsCheck {
  std::vector<ConfigProblem> problems;  // the config cannot be used
  std::vector<ConfigProblem> warnings;  // it can, but clients will complain (an expired leaf)
};

// Nothing to say when listen.sse_tls is off.
TlsSettingsCheck check_tls_settings(const Config& config);

// Null when listen.sse_tls is off, or (with `error`) when the pair is not usable.
// REQUIRES for a usable result: check_tls_settings(config).problems is empty.
std::shared_ptr<const TlsContext> make_tls_context(const Config& config, std::string& error);

}  // namespace sidecar
