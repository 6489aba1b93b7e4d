// The Unix-socket publisher endpoint: NDJSON in, one JSON reply line out per message, in order.
//
// A publisher that does not read its replies is never allowed to grow memory or block the
// loop: once its unread replies pass publish.reply_buffer_bytes, reading from it pauses
// (backpressure) until it catches up. Nothing is dropped. Runs on the hub's loop.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include "sidecar/config/config.hpp"
#include "sidecar/core/metrics.hpp"
#include "sidecar/hub/hub.hpp"
#include "sidecar/ingest/publisher_access.hpp"
#include "sidecar/net/libevent.hpp"

namespace sidecar {

class SocketIngest {
 public:
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

  bool read(Conn& c);  // false when nothing more can be read now (or `c` was closed)
  void handle_line(Conn& c, std::string_view line);
  void reply(Conn& c, std::string line);
  bool flush(Conn& c);  // false when `c` was closed (and freed)
  void close(Conn& c);

  event_base* base_;
  Hub& hub_;
  Metrics& metrics_;
  std::shared_ptr<const Config> config_;
  PublisherAccess& publishers_;
  std::string path_;
  bool owns_path_ = false;  // created here, so removed here
  ListenerPtr listener_;
  std::unordered_map<Conn*, std::shared_ptr<Conn>> conns_;
};

}  // namespace sidecar
