#include "sidecar/ingest/socket_ingest.hpp"

#include <grp.h>
#include <linux/sockios.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <optional>

#include "sidecar/ingest/line_splitter.hpp"
#include "sidecar/ingest/publish_message.hpp"
#include "sidecar/ingest/read_progress.hpp"
#include "sidecar/ingest/reply_mode.hpp"

namespace sidecar {
namespace {

// What one reply not yet in the output buffer holds besides its line, as an estimate: its slot
// here and, while the engine has not answered, the engine's queue entry and the callbacks that
// carry the answer back. The line's own size stands for the event the engine holds.
constexpr std::size_t kSlotOverhead = 256;

// Reply bytes the publisher's socket holds that it has not read; 0 when the kernel does not say.
std::size_t unread_bytes(int fd) {
  int n = 0;
  if (::ioctl(fd, SIOCOUTQ, &n) != 0 || n < 0) return 0;
  return static_cast<std::size_t>(n);
}

}  // namespace

struct SocketIngest::Conn {
  // What is done with the publisher's input.
  enum class Input : std::uint8_t {
    kLines,    // read, each line handled
    kPaused,   // not read: too many unread replies, or answers awaited from the engine
    kDiscard,  // read and dropped: the connection is being closed
    kEof,      // it has sent everything it will send
  };
  // One reply owed, in line order. An engine may answer asynchronously, so a slot waits until
  // every earlier one is answered. An empty reply: the connection's mode wants none for it.
  struct Slot {
    std::optional<std::string> reply;
    std::size_t cost = 0;  // counted in `held_back` while the slot is in `pending`
  };

  SocketIngest* owner = nullptr;
  Publisher publisher;  // who is on the other end (from SO_PEERCRED)
  pid_t pid = 0;        // for the logs
  UniqueFd fd;
  EventPtr read_event;
  EventPtr write_event;
  EventPtr stall_timer;
  EventPtr linger_timer;
  EvBufferPtr out;
  LineSplitter lines;
  std::deque<Slot> pending;
  std::size_t held_back = 0;  // bytes of `pending`: awaited publishes and the replies behind them
  ReplyMode replies = ReplyMode::kAll;
  Input input = Input::kLines;
  bool closing = false;  // no line is handled any more; it ends once what is owed is written
  PublisherClose close_reason = PublisherClose::kClient;
  bool write_shut = false;
  bool write_armed = false;
  bool stall_watched = false;
  bool lingering = false;
  bool told_paused = false;   // logged once per connection, not once per pause
  bool in_read = false;       // inside read(), which flushes once at its end
  std::uint64_t popped = 0;   // slots that have left `pending`, to locate a slot by number
  std::uint64_t written = 0;  // reply bytes written: a sign of the publisher reading
  ReadProgress progress;

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
    if (!listener_) {
      error = "cannot watch the inherited publish socket";
      return false;
    }
    accept_pause_.emplace(base_, listener_.get(), "publish socket");
    return true;
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
  accept_pause_.emplace(base_, listener_.get(), "publish socket " + path_);
  owns_path_ = true;
  return true;
}

void SocketIngest::stop_accepting() {
  if (!listener_) return;
  accept_pause_.reset();
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
      if (!conn || conn->closing || !read(*conn)) break;
    }
    // Closes it once every reply is written.
    if (auto conn = weak.lock(); conn && !conn->closing) {
      begin_close(*conn, PublisherClose::kDrain, {}, false);
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
  conn->stall_timer.reset(evtimer_new(s->base_, &on_stall_check, conn.get()));
  conn->linger_timer.reset(evtimer_new(s->base_, &on_linger_end, conn.get()));
  conn->replies = parse_reply_mode(s->config_->publish.socket_replies).value_or(ReplyMode::kAll);
  s->conns_.emplace(conn.get(), conn);
  s->metrics_.publisher_connections.fetch_add(1, std::memory_order_relaxed);
  // The kernel vouches for the peer's identity; it cannot be forged by what it sends.
  ucred cred{};
  socklen_t len = sizeof(cred);
  PublishCheck refusal;
  std::optional<Publisher> publisher;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
    conn->pid = cred.pid;
    publisher = s->publishers_.authenticate_peer(cred.uid, cred.gid, refusal);
  } else {
    refusal.error = "cannot identify the peer";
  }
  if (!publisher) {
    spdlog::warn("publish socket: refused a peer (pid {}): {}", conn->pid, refusal.error);
    s->metrics_.count_ingest_error(IngestError::kForbidden);
    // Whatever it has written already, it gets to read why before the connection ends.
    s->begin_close(*conn, PublisherClose::kRefused, publish_error_reply(refusal.error, {}), true);
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
    c.input = Conn::Input::kEof;
    event_del(c.read_event.get());
    c.closing = true;  // with the reason of a close already begun, if any
    flush(c);
    return false;
  }
  // Being closed: what it still sends is taken off the socket, not handled (not published).
  if (c.input == Conn::Input::kDiscard) return true;
  c.lines.append({buf, static_cast<std::size_t>(n)});
  c.in_read = true;
  while (true) {
    auto item = c.lines.next();
    if (item.kind == LineSplitter::Kind::kNone) break;
    if (item.kind == LineSplitter::Kind::kTooLong) {
      metrics_.count_ingest_error(IngestError::kLineTooLong);
      reply(c, false,
            publish_error_reply("line longer than publish.max_line_bytes (" +
                                    std::to_string(config_->publish.max_line_bytes) +
                                    " bytes); skipped",
                                {}));
      continue;
    }
    handle_line(c, item.line);
  }
  c.in_read = false;
  return flush(c);
}

void SocketIngest::handle_line(Conn& c, std::string_view line) {
  if (line.find_first_not_of(" \t") == std::string_view::npos) return;  // blank line
  PublishMessage m = parse_publish_line(line, config_->limits.max_event_bytes);
  if (!m.ok) {
    metrics_.count_ingest_error(m.kind);
    return reply(c, false, publish_error_reply(m.error, m.ref));
  }
  if (m.replies) {
    // A control line is answered as the mode it sets wants: acknowledged only under "all".
    c.replies = *m.replies;
    return reply(c, true, publish_control_reply(c.replies));
  }
  if (PublishCheck check = publishers_.admit(c.publisher, m.draft); !check.ok()) {
    metrics_.count_ingest_error(check.status == 429 ? IngestError::kRateLimited
                                                    : IngestError::kForbidden);
    return reply(c, false, publish_error_reply(check.error, m.ref));
  }
  // A slot even when no reply is wanted: it keeps the replies in order and counts what the
  // engine holds for this publisher until it answers.
  std::size_t cost = line.size() + kSlotOverhead;
  c.pending.push_back({std::nullopt, cost});
  c.held_back += cost;
  std::uint64_t slot = c.popped + c.pending.size() - 1;
  std::weak_ptr<Conn> weak = conns_.at(&c);
  hub_.publish(std::move(m.draft),
               [this, weak, slot, mode = c.replies, ref = std::move(m.ref)](const PublishReply& r) {
                 auto conn = weak.lock();
                 if (!conn) return;  // the publisher left; the event itself was still published
                 std::string text;
                 if (wants_reply(mode, r.ok)) {
                   text = r.ok ? publish_ok_reply(r.id, r.subscribers, ref, r.duplicate)
                               : publish_error_reply(r.error, ref);
                 }
                 conn->pending[slot - conn->popped].reply = std::move(text);
                 release_answered(*conn);
                 if (!conn->in_read) flush(*conn);  // a late answer: nothing else will write it
               });
}

void SocketIngest::reply(Conn& c, bool ok, std::string line) {
  if (wants_reply(c.replies, ok)) queue_line(c, std::move(line));
}

void SocketIngest::queue_line(Conn& c, std::string line) {
  // Behind a reply still awaited, this one waits its turn; otherwise it goes out now.
  if (!c.pending.empty()) {
    std::size_t cost = line.size() + kSlotOverhead;
    c.pending.push_back({std::move(line), cost});
    c.held_back += cost;
    return;
  }
  line.push_back('\n');
  evbuffer_add(c.out.get(), line.data(), line.size());
}

void SocketIngest::release_answered(Conn& c) {
  while (!c.pending.empty() && c.pending.front().reply) {
    std::string& text = *c.pending.front().reply;
    if (!text.empty()) {
      text.push_back('\n');
      evbuffer_add(c.out.get(), text.data(), text.size());
    }
    c.held_back -= c.pending.front().cost;
    c.pending.pop_front();
    ++c.popped;
  }
}

void SocketIngest::on_write(evutil_socket_t, short, void* arg) {
  auto& c = *static_cast<Conn*>(arg);
  c.write_armed = false;
  c.owner->flush(c);
}

bool SocketIngest::flush(Conn& c) {
  while (!c.write_armed && evbuffer_get_length(c.out.get()) > 0) {
    int n = evbuffer_write(c.out.get(), c.fd.get());
    if (n > 0) {
      c.written += static_cast<std::uint64_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      c.write_armed = true;
      event_add(c.write_event.get(), nullptr);
      break;
    }
    bool gone = n == 0 || errno == EPIPE || errno == ECONNRESET;
    close(c, c.closing ? c.close_reason : gone ? PublisherClose::kClient : PublisherClose::kError);
    return false;
  }
  return settle(c);
}

bool SocketIngest::settle(Conn& c) {
  using Input = Conn::Input;
  std::size_t held = evbuffer_get_length(c.out.get());
  std::size_t bound = config_->publish.reply_buffer_bytes;
  std::size_t engine_bound = config_->publish.engine_buffer_bytes;
  if (c.closing) {
    if (held == 0 && c.pending.empty()) {
      if (c.input == Input::kEof) {
        close(c, c.close_reason);
        return false;
      }
      if (!c.write_shut) {
        // All that is owed is written. Shutting the sending side tells the publisher so (it
        // reads to EOF) while its input is still read and dropped: closing with its input
        // unread would reset the connection, which can destroy replies it has not read yet.
        ::shutdown(c.fd.get(), SHUT_WR);
        c.write_shut = true;
        arm_linger(c);
      }
    }
  } else if (c.input == Input::kLines && (held > bound || c.held_back > engine_bound)) {
    pause(c, held > bound);
  } else if (c.input == Input::kPaused && held <= bound / 2 && c.held_back <= engine_bound / 2) {
    c.input = Input::kLines;
    event_add(c.read_event.get(), nullptr);
  }
  // Waiting on the publisher to read: paused for its replies, or closing with replies to write.
  // Answers awaited from the engine come within the engine's own timeout, so they are not.
  watch_stall(c, !c.lingering && held > 0 &&
                     (c.closing || (c.input == Input::kPaused && held > bound / 2)));
  return true;
}

void SocketIngest::pause(Conn& c, bool for_replies) {
  c.input = Conn::Input::kPaused;
  event_del(c.read_event.get());
  (for_replies ? metrics_.publisher_paused_replies : metrics_.publisher_paused_engine)
      .fetch_add(1, std::memory_order_relaxed);
  if (for_replies && !c.told_paused) {
    c.told_paused = true;
    spdlog::info(
        "publish socket: {} (pid {}) is not reading its replies: reading from it paused past "
        "publish.reply_buffer_bytes; closed if it reads none for publish.reply_stall_timeout",
        c.publisher.name, c.pid);
  }
}

void SocketIngest::watch_stall(Conn& c, bool on) {
  if (on == c.stall_watched) return;
  c.stall_watched = on;
  if (!on) {
    event_del(c.stall_timer.get());
    return;
  }
  c.progress.start(ReadProgress::Clock::now(), unread_bytes(c.fd.get()), c.written);
  timeval tv = to_timeval(config_->publish.reply_stall_timeout / 4);
  event_add(c.stall_timer.get(), &tv);
}

void SocketIngest::on_stall_check(evutil_socket_t, short, void* arg) {
  auto& c = *static_cast<Conn*>(arg);
  c.owner->check_stall(c);
}

void SocketIngest::check_stall(Conn& c) {
  using std::chrono::milliseconds;
  milliseconds timeout = config_->publish.reply_stall_timeout;
  auto idle = std::chrono::duration_cast<milliseconds>(
      c.progress.idle(ReadProgress::Clock::now(), unread_bytes(c.fd.get()), c.written));
  if (idle < timeout) {
    // Looked at four times per timeout, the last look exactly when it would expire.
    timeval tv = to_timeval(std::min(timeout / 4, timeout - idle));
    event_add(c.stall_timer.get(), &tv);
    return;
  }
  c.stall_watched = false;
  if (c.closing) {
    spdlog::warn(
        "publish socket: closed {} (pid {}): it read none of its last replies for {} ms "
        "(publish.reply_stall_timeout)",
        c.publisher.name, c.pid, timeout.count());
    close(c, c.close_reason == PublisherClose::kClient ? PublisherClose::kStalled : c.close_reason);
    return;
  }
  spdlog::warn(
      "publish socket: closing {} (pid {}): paused, it read none of its replies for {} "
      "ms (publish.reply_stall_timeout); its lines after the last one answered were not "
      "published",
      c.publisher.name, c.pid, timeout.count());
  begin_close(c, PublisherClose::kStalled,
              publish_error_reply("closing: no reply was read for publish.reply_stall_timeout (" +
                                      std::to_string(timeout.count()) +
                                      " ms); the lines sent after the last one answered were "
                                      "not published",
                                  {}),
              true);
}

void SocketIngest::begin_close(Conn& c, PublisherClose reason, std::string notice,
                               bool linger_now) {
  c.closing = true;
  c.close_reason = reason;
  if (!notice.empty()) queue_line(c, std::move(notice));  // whatever the reply mode
  if (c.input != Conn::Input::kEof) {
    c.input = Conn::Input::kDiscard;
    event_add(c.read_event.get(), nullptr);
  }
  if (linger_now) arm_linger(c);
  flush(c);  // may close `c`
}

void SocketIngest::arm_linger(Conn& c) {
  if (c.lingering) return;
  c.lingering = true;
  watch_stall(c, false);
  timeval tv = to_timeval(kCloseLinger);
  event_add(c.linger_timer.get(), &tv);
}

void SocketIngest::on_linger_end(evutil_socket_t, short, void* arg) {
  auto& c = *static_cast<Conn*>(arg);
  c.owner->close(c, c.close_reason);  // replies it has still not read are lost with it
}

void SocketIngest::close(Conn& c, PublisherClose reason) {
  metrics_.count_publisher_close(reason);
  metrics_.publisher_connections.fetch_sub(1, std::memory_order_relaxed);
  conns_.erase(&c);  // frees c; callers return right after
}

}  // namespace sidecar
