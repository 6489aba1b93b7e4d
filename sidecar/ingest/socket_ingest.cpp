#include "sidecar/ingest/socket_ingest.hpp"

#include <grp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <optional>

#include "sidecar/ingest/line_splitter.hpp"
#include "sidecar/ingest/publish_message.hpp"

namespace sidecar {

struct SocketIngest::Conn {
  SocketIngest* owner = nullptr;
  Publisher publisher;  // who is on the other end (from SO_PEERCRED)
  UniqueFd fd;
  EventPtr read_event;
  EventPtr write_event;
  EvBufferPtr out;
  LineSplitter lines;
  // Replies not yet written, in line order. An engine may answer asynchronously, so a slot
  // waits until every earlier one is filled.
  std::deque<std::optional<std::string>> pending;
  bool reading = true;
  bool write_armed = false;
  bool eof = false;
  bool in_read = false;      // inside read(), which flushes once at its end
  std::uint64_t popped = 0;  // replies that have left `pending`, to locate a slot by number

  explicit Conn(std::size_t max_line) : lines(max_line) {}
};

SocketIngest::SocketIngest(event_base* base, Hub& hub, Metrics& metrics,
                           std::shared_ptr<const Config> config, PublisherAccess& publishers)
    : base_(base),
      hub_(hub),
      metrics_(metrics),
      config_(std::move(config)),
      publishers_(publishers) {}

SocketIngest::~SocketIngest() {
  stop_accepting();
  conns_.clear();
}

bool SocketIngest::listen(std::string& error, UniqueFd inherited) {
  path_ = config_->publish.socket;
  if (inherited) {
    listener_.reset(evconnlistener_new(base_, &on_accept, this, LEV_OPT_CLOSE_ON_FREE, -1,
                                       inherited.release()));
    if (!listener_) error = "cannot watch the inherited publish socket";
    return listener_ != nullptr;
  }
  if (path_.empty()) return true;
  sockaddr_un addr{};
  if (path_.size() >= sizeof(addr.sun_path)) {
    error = "publish socket path is too long: " + path_;
    return false;
  }
  std::error_code ec;
  auto parent = std::filesystem::path(path_).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) {
    error = "cannot create " + parent.string() + ": " + ec.message();
    return false;
  }
  // A socket file left by a previous run that no longer answers is stale: replace it. One that
  // answers belongs to a running instance: refuse to steal it.
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      error = path_ + " exists and is not a socket";
      return false;
    }
    UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (::connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
      error = path_ + " is in use by another process";
      return false;
    }
    ::unlink(path_.c_str());
  }
  gid_t group = static_cast<gid_t>(-1);
  if (const auto& name = config_->publish.socket_group; !name.empty()) {
    struct group* g = ::getgrnam(name.c_str());
    if (!g) {
      error = "publish.socket_group: no group named '" + name + "'";
      return false;
    }
    group = g->gr_gid;
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::chmod(path_.c_str(), config_->publish.socket_mode) != 0 ||
      (group != static_cast<gid_t>(-1) &&
       ::chown(path_.c_str(), static_cast<uid_t>(-1), group) != 0) ||
      ::listen(fd.get(), config_->listen.backlog) != 0) {
    error = "cannot listen on " + path_ + ": " + std::strerror(errno);
    return false;
  }
  listener_.reset(
      evconnlistener_new(base_, &on_accept, this, LEV_OPT_CLOSE_ON_FREE, -1, fd.release()));
  if (!listener_) {
    error = "cannot watch " + path_;
    return false;
  }
  owns_path_ = true;
  return true;
}

void SocketIngest::stop_accepting() {
  if (!listener_) return;
  listener_.reset();
  if (owns_path_) ::unlink(path_.c_str());
}

void SocketIngest::drain() {
  stop_accepting();
  std::vector<std::weak_ptr<Conn>> all;
  for (auto& [raw, conn] : conns_) all.push_back(conn);
  for (auto& weak : all) {
    // Bounded, so a publisher streaming without pause cannot hold the shutdown: 64 MiB.
    for (int reads = 0; reads < 1024; ++reads) {
      auto conn = weak.lock();
      if (!conn || conn->eof || !read(*conn)) break;
    }
    if (auto conn = weak.lock(); conn && !conn->eof) {
      conn->eof = true;
      conn->reading = false;
      event_del(conn->read_event.get());
      flush(*conn);  // closes it once every reply is written
    }
  }
}

void SocketIngest::reconfigure(std::shared_ptr<const Config> config) {
  config_ = std::move(config);
  for (auto& [raw, conn] : conns_) conn->lines.set_max_line(config_->publish.max_line_bytes);
}

void SocketIngest::on_accept(evconnlistener*, evutil_socket_t fd, sockaddr*, int, void* self) {
  auto* s = static_cast<SocketIngest*>(self);
  evutil_make_socket_nonblocking(fd);
  auto conn = std::make_shared<Conn>(s->config_->publish.max_line_bytes);
  conn->owner = s;
  conn->fd = UniqueFd(fd);
  conn->out.reset(evbuffer_new());
  conn->read_event.reset(event_new(s->base_, fd, EV_READ | EV_PERSIST, &on_read, conn.get()));
  conn->write_event.reset(event_new(s->base_, fd, EV_WRITE, &on_write, conn.get()));
  s->conns_.emplace(conn.get(), conn);
  s->metrics_.publisher_connections.fetch_add(1, std::memory_order_relaxed);
  // The kernel vouches for the peer's identity; it cannot be forged by what it sends.
  ucred cred{};
  socklen_t len = sizeof(cred);
  PublishCheck refusal;
  std::optional<Publisher> publisher;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
    publisher = s->publishers_.authenticate_peer(cred.uid, cred.gid, refusal);
  } else {
    refusal.error = "cannot identify the peer";
  }
  if (!publisher) {
    spdlog::warn("publish socket: refused a peer: {}", refusal.error);
    s->metrics_.count_ingest_error(IngestError::kForbidden);
    s->reply(*conn, publish_error_reply(refusal.error, {}));
    conn->eof = true;  // close once the refusal is written
    conn->reading = false;
    s->flush(*conn);
    return;
  }
  conn->publisher = std::move(*publisher);
  event_add(conn->read_event.get(), nullptr);
}

void SocketIngest::on_read(evutil_socket_t, short, void* arg) {
  auto& c = *static_cast<Conn*>(arg);
  [[maybe_unused]] bool more = c.owner->read(c);
}

bool SocketIngest::read(Conn& c) {
  // One read per wakeup bounds the work a single publisher gets before others are served.
  char buf[64 * 1024];
  ssize_t n = ::recv(c.fd.get(), buf, sizeof(buf), 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return false;
  if (n <= 0) {
    // The publisher is done sending; replies still owed are written before closing.
    c.eof = true;
    event_del(c.read_event.get());
    c.reading = false;
    flush(c);
    return false;
  }
  c.lines.append({buf, static_cast<std::size_t>(n)});
  c.in_read = true;
  while (true) {
    auto item = c.lines.next();
    if (item.kind == LineSplitter::Kind::kNone) break;
    if (item.kind == LineSplitter::Kind::kTooLong) {
      metrics_.count_ingest_error(IngestError::kLineTooLong);
      reply(c, publish_error_reply("line longer than publish.max_line_bytes (" +
                                       std::to_string(config_->publish.max_line_bytes) +
                                       " bytes); skipped",
                                   {}));
      continue;
    }
    handle_line(c, item.line);
  }
  c.in_read = false;
  if (!flush(c)) return false;
  if (c.reading && evbuffer_get_length(c.out.get()) > config_->publish.reply_buffer_bytes) {
    // Backpressure: stop taking input until the publisher reads its replies.
    c.reading = false;
    event_del(c.read_event.get());
  }
  return true;
}

void SocketIngest::handle_line(Conn& c, std::string_view line) {
  if (line.find_first_not_of(" \t") == std::string_view::npos) return;  // blank line
  PublishMessage m = parse_publish_line(line, config_->limits.max_event_bytes);
  if (!m.ok) {
    metrics_.count_ingest_error(m.kind);
    return reply(c, publish_error_reply(m.error, m.ref));
  }
  if (PublishCheck check = publishers_.admit(c.publisher, m.draft); !check.ok()) {
    metrics_.count_ingest_error(check.status == 429 ? IngestError::kRateLimited
                                                    : IngestError::kForbidden);
    return reply(c, publish_error_reply(check.error, m.ref));
  }
  c.pending.emplace_back();
  std::uint64_t slot = c.popped + c.pending.size() - 1;
  std::weak_ptr<Conn> weak = conns_.at(&c);
  hub_.publish(std::move(m.draft),
               [this, weak, slot, ref = std::move(m.ref)](const PublishReply& r) {
                 auto conn = weak.lock();
                 if (!conn) return;  // the publisher left; the event itself was still published
                 conn->pending[slot - conn->popped] =
                     r.ok ? publish_ok_reply(r.id, r.subscribers, ref, r.duplicate)
                          : publish_error_reply(r.error, ref);
                 while (!conn->pending.empty() && conn->pending.front()) {
                   std::string& text = *conn->pending.front();
                   text.push_back('\n');
                   evbuffer_add(conn->out.get(), text.data(), text.size());
                   conn->pending.pop_front();
                   ++conn->popped;
                 }
                 if (!conn->in_read) flush(*conn);  // a late answer: nothing else will write it
               });
}

void SocketIngest::reply(Conn& c, std::string line) {
  // Behind a reply still awaited, this one waits its turn; otherwise it goes out now.
  if (!c.pending.empty()) {
    c.pending.emplace_back(std::move(line));
    return;
  }
  line.push_back('\n');
  evbuffer_add(c.out.get(), line.data(), line.size());
}

void SocketIngest::on_write(evutil_socket_t, short, void* arg) {
  auto& c = *static_cast<Conn*>(arg);
  c.write_armed = false;
  c.owner->flush(c);
}

bool SocketIngest::flush(Conn& c) {
  while (!c.write_armed && evbuffer_get_length(c.out.get()) > 0) {
    int n = evbuffer_write(c.out.get(), c.fd.get());
    if (n > 0) continue;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      c.write_armed = true;
      event_add(c.write_event.get(), nullptr);
      break;
    }
    close(c);  // the publisher is gone
    return false;
  }
  std::size_t unread = evbuffer_get_length(c.out.get());
  if (!c.reading && !c.eof && unread <= config_->publish.reply_buffer_bytes / 2) {
    c.reading = true;
    event_add(c.read_event.get(), nullptr);
  }
  if (c.eof && unread == 0 && c.pending.empty()) {
    close(c);
    return false;
  }
  return true;
}

void SocketIngest::close(Conn& c) {
  metrics_.publisher_connections.fetch_sub(1, std::memory_order_relaxed);
  conns_.erase(&c);  // frees c; callers return right after
}

}  // namespace sidecar
