// Incremental decoder of one HTTP/1.x response as it arrives in arbitrary pieces: the status line
// and headers, then the body as framed by chunked encoding, Content-Length or the end of the
// connection.
//
// It never copies body bytes: pieces of the body point into the caller's input. Only the head
// is buffered (bounded by kMaxHeadBytes) and that buffer is released once the head is parsed,
// so a streaming response costs a few words of state per connection.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace loadgen {

class HttpResponseDecoder {
 public:
  static constexpr size_t kMaxHeadBytes = 16 * 1024;

  struct Piece {
    enum Kind : uint8_t {
      kNeedMore,  // the input is used up
      kHead,      // the final (non-1xx) head is parsed: see status() and the flags
      kBody,      // `body` holds the next body bytes (a view into the input)
      kEnd,       // the body is complete; bytes after it are left in the input
      kError,     // malformed response: see error()
    };
    Kind kind;
    std::string_view body;
  };

  // Consumes a prefix of `in`, advancing it, and says what it found. Call again until kNeedMore,
  // kEnd or kError.
  Piece next(std::string_view& in);

  // The peer closed the connection: true when that properly ends the body (a close-delimited
  // body, or one already complete).
  bool finish_at_eof() const { return state_ == State::kCloseBody || state_ == State::kDone; }

  // Prepares for the next response on a keep-alive connection.
  void reset();

  bool head_done() const { return state_ != State::kHead; }
  int status() const { return status_; }
  bool chunked() const { return chunked_; }
  // False when the server said "Connection: close" or spoke HTTP/1.0.
  bool keep_alive() const { return keep_alive_; }
  const char* error() const { return error_; }

 private:
  enum class State : uint8_t {
    kHead,
    kChunkSize,
    kChunkExtension,
    kChunkData,
    kChunkDataEnd,
    kTrailer,
    kLengthBody,
    kCloseBody,
    kDone,
    kFailed,
  };

  Piece fail(const char* why);
  // Parses the complete head in head_; false (with error_) when it is malformed.
  bool parse_head(std::string_view head);
  Piece next_chunk_size(std::string_view& in);

  std::string head_;
  uint64_t remaining_ = 0;  // of the current chunk or Content-Length body
  const char* error_ = "";
  int status_ = 0;
  State state_ = State::kHead;
  bool chunked_ = false;
  bool keep_alive_ = true;
  bool size_digits_ = false;   // the chunk-size line has a digit yet
  bool trailer_empty_ = true;  // the trailer line read so far is empty
  bool seen_cr_ = false;       // after chunk data: the CR of its CRLF was read
};

}  // namespace loadgen
