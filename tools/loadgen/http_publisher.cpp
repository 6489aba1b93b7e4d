#include "tools/loadgen/http_publisher.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace loadgen {

namespace {

constexpr size_t kReadBufferBytes = size_t{64} * 1024;
constexpr size_t kKeepErrorBody = 200;

enum class ConnState : uint8_t { kIdle, kSending, kAwaiting, kClosed };

void append_percent_encoded(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
}

}  // namespace

struct HttpPublisher::Connection {
  HttpPublisher* owner = nullptr;
  sidecar::UniqueFd fd;
  sidecar::EventPtr ev;
  HttpResponseDecoder http;
  std::string out;
  size_t out_sent = 0;
  std::string error_body;  // start of a non-2xx response body, for the error sample
  ConnState state = ConnState::kClosed;
  bool write_armed = false;  // EV_WRITE is registered: a request did not fit the socket
};

HttpPublisher::HttpPublisher(PublishOptions options)
    : Publisher(std::move(options)), read_buffer_(new char[kReadBufferBytes]) {
  path_prefix_ = this->options().base.target;
  if (auto q = path_prefix_.find('?'); q != std::string::npos) path_prefix_.resize(q);
  while (!path_prefix_.empty() && path_prefix_.back() == '/') path_prefix_.pop_back();
  host_header_ = this->options().base.authority();
  single_channel_ = !this->options().topics.has_index();
}

HttpPublisher::~HttpPublisher() = default;

bool HttpPublisher::open(std::string& error) {
  for (uint32_t i = 0; i < options().http_connections; ++i) {
    auto c = std::make_unique<Connection>();
    c->owner = this;
    if (!connect(*c, error)) return false;
    conns_.push_back(std::move(c));
  }
  return true;
}

bool HttpPublisher::connect(Connection& c, std::string& error) {
  c.fd.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!c.fd) {
    error = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  // A blocking connect: a handful of loopback connections, each set up in microseconds.
  const sockaddr_in& dst = options().server;
  if (::connect(c.fd.get(), reinterpret_cast<const sockaddr*>(&dst), sizeof dst) != 0) {
    error = "connect to " + options().base.host + ":" + std::to_string(options().base.port) + ": " +
            std::strerror(errno);
    c.fd.reset();
    return false;
  }
  int one = 1;
  ::setsockopt(c.fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::fcntl(c.fd.get(), F_SETFL, ::fcntl(c.fd.get(), F_GETFL) | O_NONBLOCK);
  c.http.reset();
  c.out.clear();
  c.out_sent = 0;
  c.state = ConnState::kIdle;
  c.write_armed = false;
  // Reopening happens inside this event's own callback: reassign it rather than free it there.
  if (c.ev) {
    event_del(c.ev.get());
    event_assign(c.ev.get(), base(), c.fd.get(), EV_READ | EV_PERSIST, &on_io, &c);
  } else {
    c.ev.reset(event_new(base(), c.fd.get(), EV_READ | EV_PERSIST, &on_io, &c));
    if (!c.ev) {
      error = "cannot create connection event";
      return false;
    }
  }
  event_add(c.ev.get(), nullptr);
  return true;
}

void HttpPublisher::set_events(Connection& c, short what) {
  event_del(c.ev.get());
  event_assign(c.ev.get(), base(), c.fd.get(), what, &on_io, &c);
  event_add(c.ev.get(), nullptr);
}

void HttpPublisher::pump() {
  for (auto& c : conns_) {
    if (all_sent() || stats().sent >= due()) return;
    if (c->state == ConnState::kIdle) send_next(*c);
  }
}

void HttpPublisher::send_next(Connection& c) {
  topic_.clear();
  append_next_topic(topic_);
  std::string& out = c.out;
  out.assign("POST ");
  out += path_prefix_;
  if (single_channel_) {
    out += "/pub";
  } else {
    out += "/pubm?id=";
    append_percent_encoded(out, topic_);
  }
  out += " HTTP/1.1\r\nHost: ";
  out += host_header_;
  out += "\r\nContent-Type: text/plain\r\nContent-Length: ";
  // The stamp is taken as the request is written, so time queued here is not counted as the
  // server's delivery latency.
  std::string body;
  append_data(body);
  out += std::to_string(body.size());
  out += "\r\n\r\n";
  out += body;
  c.out_sent = 0;
  c.error_body.clear();
  c.state = ConnState::kSending;
  note_sent();
  write(c);
}

void HttpPublisher::write(Connection& c) {
  while (c.out_sent < c.out.size()) {
    ssize_t n =
        ::send(c.fd.get(), c.out.data() + c.out_sent, c.out.size() - c.out_sent, MSG_NOSIGNAL);
    if (n > 0) {
      c.out_sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!c.write_armed) set_events(c, EV_READ | EV_WRITE | EV_PERSIST);
      c.write_armed = true;
      return;
    }
    return lost(c, std::string("send: ") + std::strerror(errno));
  }
  c.state = ConnState::kAwaiting;
  if (c.write_armed) set_events(c, EV_READ | EV_PERSIST);
  c.write_armed = false;
}

void HttpPublisher::on_io(evutil_socket_t, short what, void* arg) {
  auto* c = static_cast<Connection*>(arg);
  HttpPublisher* self = c->owner;
  if ((what & EV_WRITE) && c->state == ConnState::kSending) self->write(*c);
  if ((what & EV_READ) && c->state != ConnState::kClosed) self->read(*c);
}

void HttpPublisher::read(Connection& c) {
  for (;;) {
    ssize_t n = ::recv(c.fd.get(), read_buffer_.get(), kReadBufferBytes, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n == 0) {
      if (c.state == ConnState::kAwaiting && c.http.head_done() && c.http.finish_at_eof()) {
        return response_done(c);
      }
      return lost(c, "connection closed by server");
    }
    if (n < 0) return lost(c, std::string("recv: ") + std::strerror(errno));
    std::string_view in(read_buffer_.get(), static_cast<size_t>(n));
    for (;;) {
      HttpResponseDecoder::Piece piece = c.http.next(in);
      if (piece.kind == HttpResponseDecoder::Piece::kNeedMore) break;
      if (piece.kind == HttpResponseDecoder::Piece::kError) {
        return lost(c, std::string("bad response: ") + c.http.error());
      }
      if (piece.kind == HttpResponseDecoder::Piece::kBody) {
        int status = c.http.status();
        if ((status < 200 || status > 299) && c.error_body.size() < kKeepErrorBody) {
          c.error_body.append(piece.body.substr(0, kKeepErrorBody - c.error_body.size()));
        }
      }
      if (piece.kind == HttpResponseDecoder::Piece::kEnd) return response_done(c);
    }
    if (static_cast<size_t>(n) < kReadBufferBytes) return;
  }
}

void HttpPublisher::response_done(Connection& c) {
  if (c.state != ConnState::kAwaiting) return lost(c, "unexpected response");
  int status = c.http.status();
  bool ok = status >= 200 && status <= 299;
  note_reply(ok, ok ? std::string() : "HTTP " + std::to_string(status) + ": " + c.error_body);
  if (!c.http.keep_alive()) {
    note_reconnect();
    std::string error;
    if (!connect(c, error)) return abort_run(error);
  } else {
    c.http.reset();
    c.state = ConnState::kIdle;
  }
  if (!all_sent() && stats().sent < due()) send_next(c);
}

void HttpPublisher::lost(Connection& c, const std::string& why) {
  bool in_flight = c.state == ConnState::kSending || c.state == ConnState::kAwaiting;
  event_del(c.ev.get());
  c.fd.reset();
  c.state = ConnState::kClosed;
  if (in_flight) note_reply(false, why);
  if (all_sent()) return;
  std::string error;
  if (!connect(c, error)) return abort_run(why + "; reconnect failed: " + error);
  note_reconnect();
  pump();
}

}  // namespace loadgen
