// What every command's loop has besides its own work: a progress tick once a second, an
// optional deadline, and SIGINT/SIGTERM ending the run cleanly (so a report is still printed).
#pragma once

#include <string>

#include "sidecar/net/libevent.hpp"

namespace loadgen {

class RunControl {
 public:
  class Owner {
   public:
    virtual void on_progress() = 0;
    // The run is over: `timed_out` when the deadline passed, otherwise a signal arrived.
    virtual void on_end(bool timed_out) = 0;

   protected:
    ~Owner() = default;
  };

  // Registers the tick and the signal handlers on `base`. False with `error` when libevent
  // cannot create them. REQUIRES: `base` outlives this object.
  bool start(event_base* base, Owner& owner, std::string& error);
  // Ends the run `seconds` from now unless it ends sooner.
  void arm_deadline(double seconds);

 private:
  static void on_tick(evutil_socket_t, short, void* self);
  static void on_deadline(evutil_socket_t, short, void* self);
  static void on_signal(evutil_socket_t, short, void* self);

  Owner* owner_ = nullptr;
  sidecar::EventPtr tick_;
  sidecar::EventPtr deadline_;
  sidecar::EventPtr sigint_;
  sidecar::EventPtr sigterm_;
};

}  // namespace loadgen
