// The Unix-socket publisher endpoint: NDJSON in, one JSON reply line out per message, in order
// (or only the refusals', or none, as the connection asks with a control line).
//
// Nothing a publisher does can block it for long, nor grow the sidecar's memory. Once its unread
// replies pass publish.reply_buffer_bytes, or its events awaiting the engine's answer pass
// publish.engine_buffer_bytes, reading from it pauses (backpressure) until they drain. A publisher
// paused for its replies that reads none of them for publish.reply_stall_timeout is told so and
// closed. Every close the sidecar decides writes what is owed, shuts the socket's sending side,
// then reads and drops the publisher's input until it ends or kCloseLinger passes, so the publisher
// can read its last lines instead of getting a reset. Runs on the hub's loop.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "sidecar/config/config.hpp"
#include "sidecar/core/metrics.hpp"
#include "sidecar/hub/hub.hpp"
#include "sidecar/ingest/publisher_access.hpp"
#include "sidecar/net/accept_pause.hpp"
#include "sidecar/net/libevent.hpp"

namespace sidecar {

class SocketIngest {
 public:
  // How long a connection being closed is read (and its input dropped) after its last line was
  // written, for the publisher to read that line and close its end first.
  static constexpr std::chrono::milliseconds kCloseLinger{2000};

  SocketIngest(event_base* base, Hub& hub, Metrics& metrics, std::shared_ptr<const Config> config,
               PublisherAccess& publishers);
  ~SocketIngest();
  SocketIngest(const SocketIngest&) = delete;
  SocketIngest& operator=(const SocketIngest&) = delete;

  // Creates the socket (and its parent directory) and starts accepting. False with `error`.
  // With `inherited` (socket activation) that socket is served instead; its file belongs to
  // the service manager and is never removed, so publishers queue on it across a restart.
  bool listen(std::string& error, UniqueFd inherited = {});
  // Stops accepting and removes the socket file (unless inherited); open publishers keep
  // being served.
  void stop_accepting();
  // Shutdown: stops accepting, reads and answers what each publisher has already sent, then
  // ends its connection once the replies are out. A publisher resends, on its next
  // connection, lines that got no reply: none of those was published.
  void drain();
  void reconfigure(std::shared_ptr<const Config> config);
  std::size_t connections() const { return conns_.size(); }

 private:
  struct Conn;
  static void on_accept(evconnlistener*, evutil_socket_t fd, sockaddr*, int, void* self);
  static void on_read(evutil_socket_t fd, short, void* conn);
  static void on_write(evutil_socket_t fd, short, void* conn);
  static void on_stall_check(evutil_socket_t fd, short, void* conn);
  static void on_linger_end(evutil_socket_t fd, short, void* conn);

  bool read(Conn& c);  // false when nothing more can be read now (or `c` was closed)
  void handle_line(Conn& c, std::string_view line);
  // Queues a reply when the connection's mode wants one with this outcome.
  void reply(Conn& c, bool ok, std::string line);
  void queue_line(Conn& c, std::string line);  // behind every reply owed, whatever the mode
  void release_answered(Conn& c);              // answered slots at the front go to `out`
  bool flush(Conn& c);                         // false when `c` was closed (and freed)
  bool settle(Conn& c);  // pauses, resumes, ends, watches; false when `c` was closed
  void pause(Conn& c, bool for_replies);
  void watch_stall(Conn& c, bool on);
  void check_stall(Conn& c);
  // No line is handled any more; `notice` (if any) is written after the replies owed, and
  // the connection ends as described above. `linger_now`: its linger starts now, not once
  // every reply is written (for a publisher that may never read them).
  void begin_close(Conn& c, PublisherClose reason, std::string notice, bool linger_now);
  void arm_linger(Conn& c);
  void close(Conn& c, PublisherClose reason);

  event_base* base_;
  Hub& hub_;
  Metrics& metrics_;
  std::shared_ptr<const Config> config_;
  PublisherAccess& publishers_;
  std::string path_;
  bool owns_path_ = false;  // created here, so removed here
  ListenerPtr listener_;
  std::optional<AcceptPause> accept_pause_;  // while listener_ is
  std::unordered_map<Conn*, std::shared_ptr<Conn>> conns_;
};

}  // namespace sidecar
