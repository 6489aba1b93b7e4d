// Delegation to the app: the sidecar asks a configured app URL whether a stream request may
// go ahead, forwarding the headers the operator lists (its session cookie, say) and the topics.
//
//   POST <url>   Content-Type: application/json   + forwarded headers
//   {"topics":["chat.room1"],"origin":"https://app.example.com","peer":"203.0.113.7"}
//
// 200 {"subject":"u42","topics":["chat.room1","user.u42.*"]} admits for those topics;
// 401 or 403 (optionally {"reason":"…"}) refuses with that status; anything else, a timeout or
// an unreachable app answers 503 so the subscriber retries, and nothing else is affected.
// Answers (200/401/403) are cached for cache_ttl per identical request; calls in flight are
// capped. One per worker loop, on that loop.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <unordered_map>

#include "sidecar/auth/access.hpp"
#include "sidecar/net/http_client.hpp"

namespace sidecar {

class DelegatedAuth {
 public:
  using Clock = std::chrono::steady_clock;
  using Done = std::function<void(AccessDecision)>;

  DelegatedAuth(const DelegateConfig& config, event_base* base);

  // `done` receives the app's answer as a decision whose `status` is 200 (with subject and the
  // granted topic patterns in `granted`), 401, 403 or 503. May run before returning (cache).
  void ask(const AccessRequest& request,
           std::function<void(AccessDecision, std::vector<TopicPattern>)> done);

 private:
  struct Answer {
    AccessDecision decision;
    std::vector<TopicPattern> granted;
    Clock::time_point expires;
  };
  static Answer interpret(const HttpResult& result);
  void remember(const std::string& key, const Answer& answer);

  DelegateConfig config_;
  HttpClient client_;
  std::unordered_map<std::string, Answer> cache_;
};

}  // namespace sidecar
