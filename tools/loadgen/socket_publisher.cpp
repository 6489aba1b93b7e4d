#include "tools/loadgen/socket_publisher.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "tools/loadgen/json_writer.hpp"

namespace loadgen {

namespace {
// One write of this size carries hundreds of events: few syscalls, and the stamps in a batch
// are at most one batch-building apart from the moment it is written.
constexpr size_t kBatchBytes = size_t{64} * 1024;
constexpr size_t kReadBufferBytes = size_t{64} * 1024;
}  // namespace

SocketPublisher::SocketPublisher(PublishOptions options)
    : Publisher(std::move(options)), read_buffer_(new char[kReadBufferBytes]) {}

SocketPublisher::~SocketPublisher() = default;

bool SocketPublisher::open(std::string& error) {
  const std::string& path = options().socket_path;
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) {
    error = "socket path too long: " + path;
    return false;
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd_) {
    error = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  // A blocking connect: one local socket at startup, nothing to overlap it with.
  if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    error = path + ": " + std::strerror(errno);
    return false;
  }
  ::fcntl(fd_.get(), F_SETFL, ::fcntl(fd_.get(), F_GETFL) | O_NONBLOCK);
  read_ev_.reset(event_new(base(), fd_.get(), EV_READ | EV_PERSIST, &on_readable, this));
  write_ev_.reset(event_new(base(), fd_.get(), EV_WRITE | EV_PERSIST, &on_writable, this));
  if (!read_ev_ || !write_ev_) {
    error = "cannot create socket events";
    return false;
  }
  event_add(read_ev_.get(), nullptr);
  return true;
}

void SocketPublisher::append_line() {
  out_ += "{\"topic\":";
  topic_.clear();
  append_next_topic(topic_);
  append_json_quoted(out_, topic_);
  out_ += ",\"data\":\"";
  // The payload is digits, "t=;q=." and 'x': nothing to escape.
  append_data(out_);
  out_ += "\"}\n";
  note_sent();
}

void SocketPublisher::pump() {
  uint64_t due_now = due();
  while (stats().sent < due_now && out_.size() - out_sent_ < kBatchBytes) append_line();
  flush();
}

bool SocketPublisher::flush() {
  while (out_sent_ < out_.size()) {
    ssize_t n = ::send(fd_.get(), out_.data() + out_sent_, out_.size() - out_sent_, MSG_NOSIGNAL);
    if (n > 0) {
      out_sent_ += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    abort_run(std::string("publish socket: ") + std::strerror(errno));
    return false;
  }
  if (out_sent_ == out_.size()) {
    out_.clear();
    out_sent_ = 0;
  }
  // Keep the write event while bytes wait or (back to back) while events remain to be built.
  bool want = out_sent_ < out_.size() || (options().rate <= 0 && !all_sent());
  if (want != write_armed_) {
    if (want) {
      event_add(write_ev_.get(), nullptr);
    } else {
      event_del(write_ev_.get());
    }
    write_armed_ = want;
  }
  return true;
}

void SocketPublisher::on_writable(evutil_socket_t, short, void* arg) {
  static_cast<SocketPublisher*>(arg)->pump();
}

void SocketPublisher::on_readable(evutil_socket_t, short, void* arg) {
  static_cast<SocketPublisher*>(arg)->read_replies();
}

void SocketPublisher::read_replies() {
  for (;;) {
    ssize_t n = ::recv(fd_.get(), read_buffer_.get(), kReadBufferBytes, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {
      event_del(read_ev_.get());
      event_del(write_ev_.get());
      abort_run(n == 0 ? "the sidecar closed the publish socket"
                       : std::string("publish socket: ") + std::strerror(errno));
      return;
    }
    std::string_view in(read_buffer_.get(), static_cast<size_t>(n));
    while (!in.empty()) {
      size_t lf = in.find('\n');
      if (lf == std::string_view::npos) {
        reply_carry_.append(in);
        break;
      }
      if (reply_carry_.empty()) {
        reply_line(in.substr(0, lf));
      } else {
        reply_carry_.append(in.substr(0, lf));
        reply_line(reply_carry_);
        reply_carry_.clear();
      }
      in.remove_prefix(lf + 1);
    }
    if (static_cast<size_t>(n) < kReadBufferBytes) return;
  }
}

void SocketPublisher::reply_line(std::string_view line) {
  // Replies are the sidecar's own compact JSON: {"ok":true,"id":"…","subscribers":N}.
  constexpr std::string_view kOk = "{\"ok\":true";
  constexpr std::string_view kSubscribers = "\"subscribers\":";
  if (line.substr(0, kOk.size()) != kOk) return note_reply(false, line);
  uint64_t subscribers = 0;
  if (size_t at = line.find(kSubscribers); at != std::string_view::npos) {
    const char* p = line.data() + at + kSubscribers.size();
    std::from_chars(p, line.data() + line.size(), subscribers);
  }
  note_reply(true, {}, subscribers);
}

}  // namespace loadgen
