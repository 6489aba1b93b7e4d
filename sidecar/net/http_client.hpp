// Outbound HTTP for the event loop (auth delegation to the app, webhooks): libcurl's multi
// interface driven by libevent (CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION +
// curl_multi_socket_action), so no call ever blocks the loop. A POST without a Content-Type
// header is sent as application/x-www-form-urlencoded (curl's default). Proxy environment
// variables (http_proxy, ...) are ignored: calls go straight to the URL given.
//
// Thread contract: one client per event loop; not thread-safe; every method and callback runs
// on that loop's thread. The client must be destroyed before its event_base.
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "sidecar/net/libevent.hpp"

namespace sidecar {

struct HttpCall {
  std::string method = "GET";  // "GET" or "POST"; anything else fails with "unsupported method"
  std::string url;             // http:// or https:// only; redirects are not followed
  // Sent as given (an empty value is sent empty). A name that is empty or holds ':', or a name
  // or value holding CR, LF or NUL, fails the call with "invalid header".
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;                         // sent for POST
  std::chrono::milliseconds timeout{2000};  // whole call, connect included
  // Larger responses fail with "response too large" (checked as bytes arrive, not only
  // against Content-Length).
  std::size_t max_response_bytes = std::size_t{64} * 1024;
};

struct HttpResult {
  // Set together with `body` only when a whole response arrived; 0 and empty whenever `error`
  // is set, even if a status line had arrived before the failure.
  int status = 0;
  std::string body;
  // Empty on success, whatever the status; else one line, e.g. "timed out", "connection
  // refused", "response too large".
  std::string error;
  bool timed_out = false;
};

class HttpClient {
 public:
  using Id = std::uint64_t;
  using Done = std::function<void(HttpResult)>;

  // `base` must outlive the client. Initializes libcurl once per process.
  explicit HttpClient(event_base* base);
  // Abandons calls in flight without running their callbacks.
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Starts a call; `done` runs exactly once, later, on the loop (never before start() returns),
  // unless cancel(id) or destruction comes first. Calls that cannot even start (bad method,
  // bad header) fail the same way, through `done`. A callback may start() and cancel() calls
  // on this client, and may destroy the client.
  Id start(HttpCall call, Done done);
  // No-op for unknown or finished ids; the call's callback never runs.
  void cancel(Id id);
  std::size_t in_flight() const { return calls_.size(); }

 private:
  struct Call;
  using MultiPtr = std::unique_ptr<CURLM, CDeleter<curl_multi_cleanup>>;

  static int on_curl_socket(CURL* easy, curl_socket_t fd, int what, void* self, void* socket_data);
  static int on_curl_timer(CURLM* multi, long timeout_ms, void* self);
  static void on_socket(evutil_socket_t fd, short what, void* self);
  static void on_timer(evutil_socket_t, short, void* self);
  static void on_deferred(evutil_socket_t, short, void* self);

  void watch_socket(curl_socket_t fd, int what);
  void socket_action(curl_socket_t fd, int flags);
  void finish_done_transfers();
  void fail_later(Call& call, std::string error);
  // Removes the call and runs its callback; false when the callback destroyed the client.
  bool complete(Id id, HttpResult result);

  // Destroyed in reverse: calls leave the multi, then the multi closes its cached connections;
  // both may still update the socket and timer events, which therefore outlive them.
  event_base* base_;
  std::unordered_map<curl_socket_t, EventPtr> sockets_;  // the sockets curl asked us to watch
  EventPtr timer_;                                       // curl's single timeout
  EventPtr deferred_;  // delivers failures of calls that never reached curl
  MultiPtr multi_;
  std::unordered_map<Id, std::unique_ptr<Call>> calls_;  // erasing a call detaches it from multi_
  std::vector<Id> failed_;                               // waiting for deferred_
  Id next_id_ = 1;
  std::shared_ptr<char> alive_;  // expires with the client, so a callback may destroy it
};

}  // namespace sidecar
