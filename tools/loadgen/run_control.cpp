#include "tools/loadgen/run_control.hpp"

#include <csignal>

#include "tools/loadgen/clock.hpp"

namespace loadgen {

bool RunControl::start(event_base* base, Owner& owner, std::string& error) {
  owner_ = &owner;
  tick_.reset(event_new(base, -1, EV_PERSIST, &on_tick, this));
  deadline_.reset(evtimer_new(base, &on_deadline, this));
  sigint_.reset(evsignal_new(base, SIGINT, &on_signal, this));
  sigterm_.reset(evsignal_new(base, SIGTERM, &on_signal, this));
  if (!tick_ || !deadline_ || !sigint_ || !sigterm_) {
    error = "cannot create loop events";
    return false;
  }
  static constexpr timeval kOneSecond{1, 0};
  event_add(tick_.get(), &kOneSecond);
  event_add(sigint_.get(), nullptr);
  event_add(sigterm_.get(), nullptr);
  return true;
}

void RunControl::arm_deadline(double seconds) {
  timeval tv = to_timeval(seconds);
  event_add(deadline_.get(), &tv);
}

void RunControl::on_tick(evutil_socket_t, short, void* self) {
  static_cast<RunControl*>(self)->owner_->on_progress();
}

void RunControl::on_deadline(evutil_socket_t, short, void* self) {
  static_cast<RunControl*>(self)->owner_->on_end(true);
}

void RunControl::on_signal(evutil_socket_t, short, void* self) {
  static_cast<RunControl*>(self)->owner_->on_end(false);
}

}  // namespace loadgen
