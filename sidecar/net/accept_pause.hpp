// Pauses an evconnlistener that cannot accept (out of descriptors: EMFILE, ENFILE, or out of
// memory). Such a listener stays readable, so libevent would retry accept() at once and log
// every failure: a loop that takes a core and writes the log full while nothing is served.
// Paused, it tries again 100 ms later, and the log says so at most once every 10 seconds.
//
// Thread contract: on the listener's loop only.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "sidecar/net/libevent.hpp"

namespace sidecar {

// The log line of a listener pausing: the first pause says so, later ones are counted into the
// next line, at most one every 10 seconds, so descriptor exhaustion cannot fill the log.
class PauseLog {
 public:
  void note(std::string_view what, int error);

 private:
  std::uint64_t unlogged_ = 0;  // pauses since the last line
  std::chrono::steady_clock::time_point logged_{};
};

class AcceptPause {
 public:
  // `what` names the listener in the log. `listener` must outlive this.
  AcceptPause(event_base* base, evconnlistener* listener, std::string what);
  ~AcceptPause();
  AcceptPause(const AcceptPause&) = delete;
  AcceptPause& operator=(const AcceptPause&) = delete;

 private:
  static void on_error(evconnlistener* listener, void*);
  static void on_resume(evutil_socket_t, short, void* self);
  void pause(int error);

  evconnlistener* listener_;
  std::string what_;
  EventPtr resume_;
  PauseLog log_;
};

}  // namespace sidecar
