#include "sidecar/net/accept_pause.hpp"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <unordered_map>

namespace sidecar {
namespace {

constexpr timeval kPause{0, 100000};
constexpr auto kLogEvery = std::chrono::seconds(10);

// libevent hands the error callback the accept callback's argument (for evhttp's listener,
// the evhttp), not one of ours: the pause is found by its listener. One loop thread per map.
std::unordered_map<evconnlistener*, AcceptPause*>& registry() {
  thread_local std::unordered_map<evconnlistener*, AcceptPause*> pauses;
  return pauses;
}

}  // namespace

AcceptPause::AcceptPause(event_base* base, evconnlistener* listener, std::string what)
    : listener_(listener), what_(std::move(what)), resume_(evtimer_new(base, &on_resume, this)) {
  registry()[listener_] = this;
  evconnlistener_set_error_cb(listener_, &on_error);
}

AcceptPause::~AcceptPause() {
  registry().erase(listener_);
  evconnlistener_set_error_cb(listener_, nullptr);
}

void AcceptPause::on_error(evconnlistener* listener, void*) {
  int error = EVUTIL_SOCKET_ERROR();
  auto it = registry().find(listener);
  if (it != registry().end()) it->second->pause(error);
}

void PauseLog::note(std::string_view what, int error) {
  ++unlogged_;
  auto now = std::chrono::steady_clock::now();
  if (now - logged_ < kLogEvery) return;
  spdlog::warn("{}: cannot accept ({}); paused for 100 ms ({} time(s) since the last report)", what,
               std::strerror(error), unlogged_);
  logged_ = now;
  unlogged_ = 0;
}

void AcceptPause::pause(int error) {
  evconnlistener_disable(listener_);
  event_add(resume_.get(), &kPause);
  log_.note(what_, error);
}

void AcceptPause::on_resume(evutil_socket_t, short, void* self) {
  evconnlistener_enable(static_cast<AcceptPause*>(self)->listener_);
}

}  // namespace sidecar
