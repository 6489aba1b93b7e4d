// The server side of one HTTP/2 connection, framed by nghttp2: bytes from the client go in,
// request heads come out (as the HTTP/1 parser gives them), and responses go back with their
// bodies read straight from each stream's own queue into the connection's write buffer.
//
// What it owns: the nghttp2 session and its settings (concurrent streams, header list size,
// the limits against floods). It owns no socket: the caller reads and writes one, and learns
// what happened to the streams from the events this gathers.
//
// Why events rather than callbacks into the caller: nghttp2 forbids sending from inside its own
// callbacks, and a request handled at once may want to answer. The caller takes the events after
// receive() and produce() returned, when anything may be sent.
//
// Thread contract: used by one thread (the worker owning the connection).
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "sidecar/core/c_deleter.hpp"
#include "sidecar/core/header_list.hpp"
#include "sidecar/net/h2_memory.hpp"
#include "sidecar/net/http_request.hpp"

namespace sidecar {

using Nghttp2SessionPtr = std::unique_ptr<nghttp2_session, CDeleter<nghttp2_session_del>>;

struct H2Settings {
  std::uint32_t max_concurrent_streams = 100;  // SETTINGS_MAX_CONCURRENT_STREAMS
  std::size_t max_header_list_bytes = 8192;    // as HPACK counts them (RFC 9113 6.5.2)
};

// A request head that ended (HEADERS and any CONTINUATION, END_HEADERS seen). `result` is
// kDone, kMalformed or kTooLarge (with `error`), as parse_http_request reports a head.
struct H2Request {
  std::int32_t stream_id = 0;
  HttpParse result = HttpParse::kDone;
  HttpRequest request;
  std::string error;
  bool has_body = false;  // the HEADERS did not end the stream: DATA may follow
};

// A stream that closed: both sides ended it, or either reset it.
struct H2Closed {
  std::int32_t stream_id = 0;
  std::uint32_t error_code = NGHTTP2_NO_ERROR;
};

using H2Event = std::variant<H2Request, H2Closed>;

class H2Connection {
 public:
  // What the streams of the connection have to send, and what the connection tells of itself.
  class Owner {
   public:
    virtual ~Owner() = default;
    // Bytes stream `stream_id` has queued now; `end`: none will follow them (its response ends).
    virtual std::size_t available(std::int32_t stream_id, bool& end) = 0;
    // Copies the first `n` queued bytes of the stream to `dst` and drops them from its queue.
    // REQUIRES: n <= available().
    virtual void take(std::int32_t stream_id, char* dst, std::size_t n) = 0;
    // A RST_STREAM or GOAWAY left with `error_code` (for the metrics).
    virtual void sent_reset(std::uint32_t error_code) = 0;
    virtual void sent_goaway(std::uint32_t error_code) = 0;
  };

  // Null when nghttp2 cannot allocate the session. The server's SETTINGS are queued at once.
  static std::unique_ptr<H2Connection> create(const H2Settings& settings, Owner& owner);
  H2Connection(const H2Connection&) = delete;
  H2Connection& operator=(const H2Connection&) = delete;
  ~H2Connection() = default;

  // Bytes from the client. False when the connection must end: a protocol error or a flood
  // (nghttp2 queued the GOAWAY that says so; produce() it, then close). `error()` says why.
  bool receive(const char* data, std::size_t size);
  // Appends what is ready to send to `out`, until it holds about `cap` bytes (one DATA frame
  // may go past it) or nothing is left. False on a fatal error: close without sending more.
  bool produce(std::string& out, std::size_t cap);
  // What receive() and produce() reported, in order, since the last call.
  std::vector<H2Event> take_events();

  // The response head of `stream_id`; with `body`, its DATA comes from the owner's queue
  // (available()/take()) until `end`. False when the stream is gone.
  bool respond(std::int32_t stream_id, int status, const HeaderList& headers, bool body);
  // The stream queued bytes after available() said it had none: its DATA resumes.
  void resume(std::int32_t stream_id);
  void reset(std::int32_t stream_id, std::uint32_t error_code);
  // GOAWAY: the streams open now are served to their end; new ones are refused.
  void go_away(std::uint32_t error_code = NGHTTP2_NO_ERROR);

  // Whether nghttp2 has frames to send.
  bool wants_write() const;
  // Neither side has anything more to say (after GOAWAY, or a fatal error): close the socket.
  bool finished() const;
  const std::string& error() const { return error_; }

 private:
  struct Head {
    HttpRequest request;
    std::size_t bytes = 0;  // name + value + 32 per field, as SETTINGS_MAX_HEADER_LIST_SIZE
    bool too_large = false;
    std::string malformed;  // why the head is refused (400); empty when fine
    std::string cookies;    // RFC 9113 8.2.3: cookie fields joined with "; "
  };

  H2Connection(const H2Settings& settings, Owner& owner) : settings_(settings), owner_(owner) {}

  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                       std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                       std::uint8_t flags, void* self);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code,
                             void* self);
  static ssize_t on_send(nghttp2_session*, const std::uint8_t* data, std::size_t length, int flags,
                         void* self);
  static int on_send_data(nghttp2_session*, nghttp2_frame* frame, const std::uint8_t* framehd,
                          std::size_t length, nghttp2_data_source* source, void* self);
  static ssize_t on_read_data(nghttp2_session*, std::int32_t stream_id, std::uint8_t* buf,
                              std::size_t length, std::uint32_t* data_flags,
                              nghttp2_data_source* source, void* self);

  H2Settings settings_;
  Owner& owner_;
  H2Memory memory_;  // before session_: the session frees through it as it goes
  Nghttp2SessionPtr session_;
  std::unordered_map<std::int32_t, Head> heads_;  // request heads being received
  std::vector<H2Event> events_;
  std::string* out_ = nullptr;  // produce()'s buffer while it runs
  std::size_t cap_ = 0;
  std::string error_;
};

}  // namespace sidecar
