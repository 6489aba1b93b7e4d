// Test helper: real HTTP on loopback, served by the test's own event loop. An EventLoop owns the
// loop and runs it until a condition holds or a deadline passes; a LoopbackServer answers on a
// free port of 127.0.0.1 through one handler per request; a RefusingPort is a port on which
// connecting is refused.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "sidecar/net/libevent.hpp"

namespace sidecar::test {

// The port a socket is bound to.
inline int local_port(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof(addr);
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  return ntohs(addr.sin_port);
}

inline std::string loopback_url(int port, std::string_view path_and_query) {
  return "http://127.0.0.1:" + std::to_string(port) + std::string(path_and_query);
}

// Answers `req` at once with `status` and `body`.
inline void reply(evhttp_request* req, int status, std::string_view body) {
  EvBufferPtr buf(evbuffer_new());
  evbuffer_add(buf.get(), body.data(), body.size());
  evhttp_send_reply(req, status, "Reason", buf.get());
}

// The test's own event loop. Whatever uses it is declared after it, so that goes first.
struct EventLoop {
  EventBasePtr base{event_base_new()};

  // Runs the loop until `done` holds or `limit` passes; returns done().
  bool run_until(const std::function<bool()>& done,
                 std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    // A ticking timer wakes EVLOOP_ONCE, so the deadline is checked even when nothing happens.
    EventPtr tick(event_new(
        base.get(), -1, EV_PERSIST, [](evutil_socket_t, short, void*) {}, nullptr));
    timeval every{0, 10000};
    event_add(tick.get(), &every);
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      event_base_loop(base.get(), EVLOOP_ONCE);
    }
    return done();
  }
  void run_for(std::chrono::milliseconds limit) {
    run_until([] { return false; }, limit);
  }
};

// A real HTTP server on a free loopback port, served by the loop it is given (which outlives it).
// Every request is counted, then passed to `handler`; without a handler it is never answered.
// Handlers record what they saw; assertions run outside the C callbacks.
class LoopbackServer {
 public:
  using Handler = std::function<void(evhttp_request*)>;

  LoopbackServer(event_base* base, Handler handler)
      : http_(evhttp_new(base)), handler_(std::move(handler)) {
    REQUIRE(http_);
    evhttp_bound_socket* bound = evhttp_bind_socket_with_handle(http_.get(), "127.0.0.1", 0);
    REQUIRE(bound);
    port_ = local_port(evconnlistener_get_fd(evhttp_bound_socket_get_listener(bound)));
    evhttp_set_allowed_methods(http_.get(), EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    evhttp_set_gencb(http_.get(), &dispatch, this);
  }
  LoopbackServer(const LoopbackServer&) = delete;  // libevent holds its address
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  std::string url(std::string_view path_and_query) const {
    return loopback_url(port_, path_and_query);
  }
  int requests() const { return requests_; }  // received so far, answered or not

 private:
  static void dispatch(evhttp_request* req, void* self) {
    auto* server = static_cast<LoopbackServer*>(self);
    ++server->requests_;
    if (server->handler_) server->handler_(req);
  }

  EvHttpPtr http_;
  Handler handler_;
  int port_ = 0;
  int requests_ = 0;
};

// A loopback port that is bound but not listening: it stays ours while this lives, and
// connecting to it is refused.
class RefusingPort {
 public:
  RefusingPort() : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    REQUIRE(fd_);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    port_ = local_port(fd_.get());
  }

  std::string url(std::string_view path_and_query) const {
    return loopback_url(port_, path_and_query);
  }

 private:
  UniqueFd fd_;
  int port_ = 0;
};

}  // namespace sidecar::test
