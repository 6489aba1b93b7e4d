#include "sidecar/stream/tls_settings.hpp"

namespace sidecar {

TlsSettingsCheck check_tls_settings(const Config& config) {
  TlsSettingsCheck out;
  const TlsConfig& tls = config.tls;
  // The loader already reported a missing key or an unreadable file.
  if (config.listen.sse_tls.empty() || tls.certificate_file.content.empty() ||
      tls.key_file.content.empty()) {
    return out;
  }
  TlsPairCheck pair = TlsContext::check(tls.certificate_file.content, tls.key_file.content);
  auto at = [&config](const ConfigFile& f, const char* key, const std::string& reason) {
    return ConfigProblem{config.source, f.line, f.column,
                         std::string("'") + key + "': " + f.path + ": " + reason};
  };
  if (!pair.certificate_error.empty()) {
    out.problems.push_back(
        at(tls.certificate_file, "tls.certificate_file", pair.certificate_error));
  }
  if (!pair.key_error.empty()) {
    out.problems.push_back(at(tls.key_file, "tls.key_file", pair.key_error));
  }
  if (!pair.warning.empty()) {
    out.warnings.push_back(at(tls.certificate_file, "tls.certificate_file", pair.warning));
  }
  return out;
}

std::shared_ptr<const TlsContext> make_tls_context(const Config& config, std::string& error) {
  if (config.listen.sse_tls.empty()) return nullptr;
  return TlsContext::create(config.tls.certificate_file.content, config.tls.key_file.content,
                            error);
}

}  // namespace sidecar
