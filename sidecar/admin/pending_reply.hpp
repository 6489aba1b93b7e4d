// The reply to one HTTP publish, assembled as the hub commits its events. A shared engine
// answers later than the request handler returns, and evhttp frees a request whose client has
// gone: the pending reply watches the connection and sends only while its request exists.
//
// Thread contract: the admin listener's loop (the main loop).
#pragma once

#include <event2/http.h>

#include <memory>
#include <string>
#include <vector>

namespace sidecar {

class PendingReply {
 public:
  // `parts` replies, for one event each; `array` wraps them as a JSON array.
  static std::shared_ptr<PendingReply> start(evhttp_request* req, std::size_t parts, bool array);
  ~PendingReply();
  PendingReply(const PendingReply&) = delete;
  PendingReply& operator=(const PendingReply&) = delete;

  // Part `i` is known, with the HTTP status it calls for (the first non-200 status is the
  // reply's) and a Retry-After in seconds (0 = none). The reply goes once every part is in.
  void set(std::size_t i, std::string json, int status, int retry_after = 0);

 private:
  PendingReply() = default;
  static void on_close(evhttp_connection*, void* self);
  void send();

  evhttp_request* req_ = nullptr;  // null once the client left
  evhttp_connection* conn_ = nullptr;
  std::vector<std::string> parts_;
  std::size_t missing_ = 0;
  bool array_ = false;
  int status_ = 200;
  int retry_after_ = 0;
};

}  // namespace sidecar
