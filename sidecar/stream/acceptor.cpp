#include "sidecar/stream/acceptor.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace sidecar {
namespace {

constexpr int kAcceptsPerWake = 32;
constexpr timeval kAcceptPause{0, 100000};

std::string peer_name(const sockaddr_storage& addr) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (addr.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(addr).sin_addr, host, sizeof(host));
  } else if (addr.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(addr).sin6_addr, host, sizeof(host));
  }
  return host;
}

}  // namespace

Acceptor::Acceptor(event_base* base, int listen_fd, OnConn on_conn, std::function<void()> after)
    : listen_fd_(listen_fd),
      on_conn_(std::move(on_conn)),
      after_(std::move(after)),
      ready_(event_new(base, listen_fd, EV_READ | EV_PERSIST, &on_ready, this)),
      resume_(evtimer_new(base, &on_resume, this)) {
  event_add(ready_.get(), nullptr);
}

void Acceptor::stop() {
  stopped_ = true;
  event_del(ready_.get());
  event_del(resume_.get());
}

void Acceptor::on_ready(evutil_socket_t, short, void* self) {
  static_cast<Acceptor*>(self)->accept_ready();
}

void Acceptor::on_resume(evutil_socket_t, short, void* self) {
  auto* a = static_cast<Acceptor*>(self);
  if (!a->stopped_) event_add(a->ready_.get(), nullptr);
}

void Acceptor::accept_ready() {
  for (int i = 0; i < kAcceptsPerWake; ++i) {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    int fd =
        accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      // Events are small and latency matters more than packet count: no Nagle delay.
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      on_conn_(UniqueFd(fd), peer_name(addr));
      continue;
    }
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      pause_log_.note("stream listener", errno);
      event_del(ready_.get());
      event_add(resume_.get(), &kAcceptPause);
    }
    break;  // EAGAIN (another worker took it), or a transient per-connection error
  }
  after_();
}

}  // namespace sidecar
