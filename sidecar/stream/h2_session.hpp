// One HTTP/2 connection on a stream worker: its socket and TLS session, the nghttp2 session
// that frames it, its events, and its open streams by id.
//
// Each stream is a StreamConn of the worker like any other (the same admission, output queue
// and bound, topic index, heartbeats, expiry and end) with no socket of its own: the worker
// marks the session dirty where it would write an HTTP/1 stream's socket, and each dirty
// session writes once per flush, every stream's DATA frames gathered into one buffer that
// leaves in records of up to 16 KiB (one SSL_write each). An idle session holds no write
// buffer: the worker's scratch buffer takes the frames, and only what the socket refused stays
// with the session.
//
// Ownership: the worker owns sessions and streams; a stream points at its session, which
// outlives it (a closing session closes its streams first, and both are freed at the reap).
// Thread contract: the worker's thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "sidecar/core/stream_stats.hpp"
#include "sidecar/net/h2_connection.hpp"
#include "sidecar/net/libevent.hpp"
#include "sidecar/net/tls_session.hpp"
#include "sidecar/stream/stream_conn.hpp"
#include "sidecar/stream/stream_request.hpp"

namespace sidecar {

// What a client sends first on an HTTP/2 connection (RFC 9113 3.4).
inline constexpr std::string_view kH2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

struct H2Session final : H2Connection::Owner {
  enum class Io : std::uint8_t {
    kOk,       // done: the socket is drained (read) or everything was written (write)
    kMore,     // read: stopped at the per-wakeup bound with bytes left
    kBlocked,  // write: the socket is full; the write event is armed
    kGone,     // the peer left, the socket failed, or nghttp2 ended the connection
  };

  // What a write hands the socket at most per round, beside the one DATA frame that may pass
  // it: four TLS records.
  static constexpr std::size_t kWriteChunk = std::size_t{64} * 1024;

  // Reads what the socket holds (a bounded amount per wakeup) into nghttp2. On kGone with
  // `protocol_error`, nghttp2 refused the bytes (and may have queued a GOAWAY saying why).
  Io read_in(bool& protocol_error);
  // Writes what was left unsent, then what nghttp2 has ready, until nothing is left or the
  // socket is full. Adds what it wrote to `written`.
  Io write_out(std::uint64_t& written);
  // The socket refused bytes: the session waits for it to drain before writing again.
  bool blocked() const { return write_armed; }

  // H2Connection::Owner: the streams' queues, read by the DATA frames being sent.
  std::size_t available(std::int32_t stream_id, bool& end) override;
  void take(std::int32_t stream_id, char* dst, std::size_t n) override;
  void sent_reset(std::uint32_t error_code) override;
  void sent_goaway(std::uint32_t error_code) override;

  Worker* worker = nullptr;
  std::uint64_t serial = 0;  // the serial of the connection it began as
  StreamStats* stats = nullptr;
  UniqueFd fd;
  std::unique_ptr<TlsSession> tls;
  std::string peer;
  std::unique_ptr<H2Connection> h2;
  EventPtr read_event;
  EventPtr write_event;
  EventPtr idle;  // no stream open for limits.request_timeout: GOAWAY and close
  std::unordered_map<std::int32_t, StreamConn*> streams;  // open ones, by stream id
  std::string unsent;  // frames the socket has not taken yet (usually empty)
  // Refused at admission (capacity, per-IP limits): every request it sends gets this answer,
  // and the connection goes away after the first.
  std::optional<Answer> refusal;
  bool dirty = false;        // in the worker's list of sessions to write this turn
  bool write_armed = false;  // waiting for the socket to become writable
  bool ip_counted = false;   // counted in ConnectionLimits per IP (its first stream uses it)
  // No new stream is served: once its streams ended, GOAWAY is sent (`goaway_sent`), and the
  // connection closes when that is flushed. Some clients read a GOAWAY as the end of every
  // stream, so it comes after their last bytes.
  bool going_away = false;
  bool goaway_sent = false;
  bool dead = false;  // closed; freed at the reap
  // The stream whose per-IP count is the connection's own (0: none); every other stream is
  // counted by itself.
  std::uint64_t ip_slot_stream = 0;

 private:
  Io send_bytes(const char* data, std::size_t size, std::size_t& n);
};

}  // namespace sidecar
