#include "sidecar/stream/stream_request.hpp"

#include "sidecar/stream/browser_script.hpp"

namespace sidecar {

std::optional<Answer> admit_connection(std::size_t open, const std::string& peer,
                                       ConnectionLimits& limits, StreamStats& stats,
                                       bool draining) {
  if (draining) return Answer{503, "server is shutting down"};
  if (open > limits.max_connections()) {
    return Answer{503,
                  "too many connections (limit " + std::to_string(limits.max_connections()) + ")"};
  }
  int retry_after = 0;
  switch (limits.admit_ip(peer, retry_after)) {
    case ConnectionLimits::Verdict::kOk:
      return std::nullopt;
    case ConnectionLimits::Verdict::kTooFastForIp:
      stats.limited_ip_rate.add();
      return Answer{429,
                    "too many new connections from this address",
                    {{"Retry-After", std::to_string(retry_after)}}};
    default:
      stats.limited_ip_connections.add();
      return Answer{429,
                    "too many open connections from this address",
                    {{"Retry-After", std::to_string(retry_after)}}};
  }
}

std::variant<Answer, Served, StreamParams> route_request(const HttpRequest& req,
                                                         const Config& config, AccessPolicy& access,
                                                         bool draining) {
  if (req.path() == kBrowserScriptPath) {
    auto served = serve_browser_script(req);
    if (auto* refused = std::get_if<Answer>(&served)) return std::move(*refused);
    return std::get<Served>(std::move(served));
  }
  if (req.path() != "/events") return Answer{404, "not found; streams are at /events"};
  if (req.method == "OPTIONS") {
    AccessDecision d = access.preflight(req.header("origin"));
    if (!d.allowed()) return Answer{d.status, d.reason};
    return Answer{204, "", d.cors_headers, CloseReason::kAnswered};
  }
  if (req.method != "GET") {
    return Answer{405, "only GET opens a stream", {{"Allow", "GET, OPTIONS"}}};
  }
  if (draining) return Answer{503, "server is shutting down"};
  StreamParams params;
  std::string error;
  if (!parse_stream_params(req, config, params, error)) return Answer{400, error};
  return params;
}

std::optional<Answer> admit_stream(const AccessDecision& decision, ConnectionLimits& limits,
                                   StreamStats& stats) {
  if (!decision.allowed()) {
    Answer a{decision.status, decision.reason, decision.cors_headers};
    if (decision.status == 503) a.headers.emplace_back("Retry-After", "5");
    return a;
  }
  if (decision.method == AccessMethod::kAnonymous) return std::nullopt;
  if (limits.admit_subject(decision.subject) == ConnectionLimits::Verdict::kOk) return std::nullopt;
  stats.limited_subject_connections.add();
  Answer a{429, "too many streams for this subject", decision.cors_headers};
  a.headers.emplace_back("Retry-After", "5");
  return a;
}

}  // namespace sidecar
