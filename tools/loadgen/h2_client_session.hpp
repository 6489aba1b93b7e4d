// The HTTP/2 side of one client connection, on nghttp2's client session: GET requests submitted
// as streams, each stream's response head, data and end handed to a Handler, and the frames to
// send gathered in a buffer. It never touches a socket: the caller feeds it the bytes it read
// (after TLS) and writes out what it gathered, so it runs on the caller's event loop.
//
// The connection announces what a browser's does (Chromium's SETTINGS and connection window), so
// a server's flow control and stream limits meet the client they would meet in production.
//
// Ownership: the session owns its nghttp2_session. A stream carries the caller's tag, which must
// stay valid while the stream is open or be detached with cancel(). The Handler must outlive the
// session. Callbacks run only inside receive() and gather(); the caller must not destroy the
// session from inside one (Envoy's rule: defer it to a safe point).
// Thread contract: one thread.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "sidecar/core/c_deleter.hpp"

namespace loadgen {

using NgHttp2SessionPtr = std::unique_ptr<nghttp2_session, sidecar::CDeleter<nghttp2_session_del>>;

class H2ClientSession {
 public:
  class Handler {
   public:
    // The final (non-1xx) response head of the stream tagged `stream`.
    virtual void on_h2_head(void* stream, int status) = 0;
    // Body bytes of the stream; the view is valid during the call only.
    virtual void on_h2_data(void* stream, std::string_view data) = 0;
    // The stream is closed: error_code 0 when the server ended the response, otherwise the
    // RST_STREAM (or GOAWAY) code, see nghttp2_http2_strerror(). No callback follows for it.
    virtual void on_h2_close(void* stream, uint32_t error_code) = 0;

   protected:
    ~Handler() = default;
  };

  struct Request {
    std::string_view authority;
    std::string_view path;
    std::string_view last_event_id;  // sent as last-event-id unless empty
  };

  // Null, with `error`, when nghttp2 cannot allocate the session. Queues the client's SETTINGS.
  static std::unique_ptr<H2ClientSession> create(Handler& handler, std::string& error);
  ~H2ClientSession();
  H2ClientSession(const H2ClientSession&) = delete;
  H2ClientSession& operator=(const H2ClientSession&) = delete;

  // Queues GET `request` with Accept: text/event-stream, tagged `stream`. Returns its stream id,
  // or -1 with `error` (the connection has run out of stream ids, or the server sent GOAWAY).
  int32_t submit_get(const Request& request, void* stream, std::string& error);
  // Resets stream `id` (RST_STREAM CANCEL) and detaches its tag: no more callbacks for it.
  void cancel(int32_t id);

  // Processes bytes read from the connection, calling the Handler. False with `error` on a
  // connection error (the session then queues GOAWAY; the connection is done).
  bool receive(std::string_view in, std::string& error);
  // Moves the frames nghttp2 has queued into pending() (up to a bound). False with `error` when
  // nghttp2 fails, which ends the connection.
  bool gather(std::string& error);
  std::string_view pending() const { return out_; }
  // `n` bytes of pending() were written.
  void sent(size_t n) { out_.erase(0, n); }
  // Neither side has anything more to say: the server sent GOAWAY and every stream is closed.
  bool finished() const;

 private:
  explicit H2ClientSession(Handler& handler) : handler_(handler) {}

  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                       size_t namelen, const uint8_t* value, size_t valuelen, uint8_t flags,
                       void* self);
  static int on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* self);
  static int on_data_chunk_recv(nghttp2_session* session, uint8_t flags, int32_t stream_id,
                                const uint8_t* data, size_t len, void* self);
  static int on_stream_close(nghttp2_session* session, int32_t stream_id, uint32_t error_code,
                             void* self);

  Handler& handler_;
  NgHttp2SessionPtr session_;
  std::string out_;
  int status_ = 0;  // :status of the header block being received; 0 without one (trailers)
};

}  // namespace loadgen
