// Takes new connections off the listening socket that every worker shares. A worker accepts a
// few per wakeup, so one worker cannot take a whole connect storm while another idles; out of
// file descriptors, it pauses briefly instead of spinning on a listener that stays ready.
//
// Thread contract: one per worker, on that worker's loop.
#pragma once

#include <functional>
#include <string>

#include "sidecar/net/accept_pause.hpp"
#include "sidecar/net/libevent.hpp"

namespace sidecar {

class Acceptor {
 public:
  // `on_conn` gets each accepted (non-blocking) socket and the peer's address as text;
  // `after` runs once per wakeup, after the last of them.
  using OnConn = std::function<void(UniqueFd fd, std::string peer)>;

  // `listen_fd` is not owned. Starts accepting at once.
  Acceptor(event_base* base, int listen_fd, OnConn on_conn, std::function<void()> after);
  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;

  // For good (drain): no more connections are taken.
  void stop();

 private:
  static void on_ready(evutil_socket_t, short, void* self);
  static void on_resume(evutil_socket_t, short, void* self);
  void accept_ready();

  const int listen_fd_;
  OnConn on_conn_;
  std::function<void()> after_;
  EventPtr ready_;
  EventPtr resume_;
  bool stopped_ = false;
  PauseLog pause_log_;
};

}  // namespace sidecar
