// One subscriber connection on a worker loop: its socket I/O, its output queue and the state it
// is in. Owned by its Worker; never touched by another thread. A closed connection is kept
// (state kDead) until the end of the loop turn so that lists being iterated never hold a
// dangling pointer (the reap frees it).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sidecar/auth/access.hpp"
#include "sidecar/core/close_reason.hpp"
#include "sidecar/core/stream_protocol.hpp"
#include "sidecar/core/topic.hpp"
#include "sidecar/net/http_request.hpp"
#include "sidecar/net/libevent.hpp"
#include "sidecar/net/tls_session.hpp"
#include "sidecar/stream/output_queue.hpp"

namespace sidecar {

class Worker;
struct H2Session;

// Why a stream was let in, kept while it is open: its expiry, and what a reload re-examines.
struct Admission {
  AccessRequest request;
  AccessDecision decision;
  EventPtr expiry;  // fires when the credentials expire
};

struct StreamConn {
  enum class State : std::uint8_t {
    kHandshake,  // TLS: before the request, until the handshake is done
    kReading,    // receiving the request head
    kDeciding,   // waiting for the access policy
    kStreaming,
    kClosing,  // flushing a final response or stream end, then closing
    kDead,
  };
  enum class Io : std::uint8_t {
    kOk,       // done: everything read or written that there was
    kBlocked,  // the socket is full; the write event is armed and continues later
    kGone,     // the peer left or the socket failed
  };

  // Reads the request head into `in` until the socket is empty or `limit` bytes are held.
  Io read_head(std::size_t limit);
  // After the head a stream client has nothing more to say: reading only notices that it
  // went away. Bounded per wakeup so a client that keeps sending cannot hog the loop.
  Io discard_input();
  // Writes the output queue until it is empty or the socket is full (one writev per round:
  // usually the only syscall for this connection this turn). Adds what it wrote to
  // `bytes_sent` and to `written`.
  Io write_out(std::uint64_t& written);
  // TLS: the queued slices are gathered into one record of up to 16 KiB per write (one
  // SSL_write, one syscall), not one record per slice.
  Io write_out_tls(std::uint64_t& written);

  // The transport is the socket itself, or TLS over it (`tls` set): the same requests, streams
  // and limits either way. Plain connections pay one test of `tls` per call, nothing more.
  bool is_tls() const { return tls != nullptr; }
  // How it is served, as the access log and GET /streams name it.
  StreamProtocol protocol_kind() const;
  std::string_view protocol() const { return to_string(protocol_kind()); }

  Worker* worker = nullptr;  // owner; libevent callbacks reach it through the connection
  std::uint64_t serial = 0;  // unique per worker; late callbacks look connections up by it
  UniqueFd fd;
  std::unique_ptr<TlsSession> tls;  // null on the plain listener
  // An HTTP/2 stream has no socket (nor `fd`, `tls` or events) of its own: its session's
  // connection carries it, with the bytes of `out` sent as DATA frames of stream `h2_stream`.
  H2Session* h2 = nullptr;
  std::int32_t h2_stream = 0;
  bool h2_closed = false;  // nghttp2 closed the stream (both ends, or a reset): nothing to reset
  State state = State::kReading;  // kHandshake first on the TLS listener
  bool chunked = true;            // HTTP/1.1 framing
  bool dirty = false;             // in the worker's flush list for this turn
  bool write_armed = false;       // waiting for the socket to become writable
  bool subscribed = false;        // counted in the hub's subscriber counts
  bool indexed = false;           // in the worker's topic index (left only when reaped)
  bool ip_counted = false;        // counted in ConnectionLimits per IP
  bool subject_counted = false;   // counted in ConnectionLimits per subject
  bool open_counted = false;      // counted in StreamStats::streams_open
  std::uint8_t idle_ticks = 0;    // heartbeat ticks since something was last queued
  std::uint64_t last_seq = 0;     // newest event id (seq) queued; older live copies are skipped
  std::uint64_t delivery = 0;     // the worker's last delivery that served this stream
  // Resuming: live events wait (in the worker's held list for it) until the replay is in, so
  // that none is lost or sent twice at the seam (an engine may answer the replay later).
  bool replaying = false;
  CloseReason close_reason = CloseReason::kClient;  // decided when its end is decided
  std::chrono::steady_clock::time_point opened;     // when the stream started, for the log
  std::uint64_t events_sent = 0;                    // events queued to it (live and replayed)
  std::uint64_t bytes_sent = 0;                     // bytes written to its socket
  EventPtr read_event;
  EventPtr write_event;
  EventPtr deadline;  // request-head deadline; gone once the request is read
  EventPtr lifetime;  // stream.max_duration
  OutputQueue out;
  std::string in;                        // request head bytes; released once parsed
  std::unique_ptr<HttpRequest> request;  // released once a decision is made
  std::vector<TopicPattern> topics;
  std::vector<std::uint32_t> index_slots;    // its positions in the worker's topic index
  std::vector<std::string> presence_topics;  // topics its subject is tracked on (presence)
  std::string peer;
  std::unique_ptr<Admission> admission;  // set while streaming
};

}  // namespace sidecar
