// One read from a connection, whatever carries it: the socket itself, or TLS over it. Callers
// that loop over reads (a request head, input after it, HTTP/2 frames) then need not know the
// transport, and a plain connection pays one null test per read.
//
// Thread contract: that of the connection (one thread).
#pragma once

#include <cstddef>
#include <cstdint>

#include "sidecar/net/tls_session.hpp"

namespace sidecar {

enum class ReadResult : std::uint8_t {
  kData,   // `n` bytes (at least one) were read
  kEmpty,  // nothing to read now: wait until the socket is readable
  kGone,   // the peer closed, reset, or broke the TLS protocol
};

// Reads up to `size` bytes from `fd`, or the plaintext of `tls` over it when `tls` is not null.
// A TLS session that owes the peer a write (a key update) reports kEmpty: it leaves with the
// next write.
ReadResult read_some(int fd, TlsSession* tls, char* buf, std::size_t size, std::size_t& n);

}  // namespace sidecar
