// Sends lines to the publish socket while it reads their replies, for the publish command.
//
// It cannot deadlock against the sidecar's back-pressure, and its memory is bounded on any
// input: one poll loop watches the input, the socket (both ways) and the output, reads replies
// whenever they come, and stops taking input while kMaxInFlight lines (or kMaxInFlightBytes)
// await their reply, so the replies the sidecar holds for it stay far below
// publish.reply_buffer_bytes. A reply is passed to the output as it arrives, and reading the
// socket waits only while the output holds kOutputBuffer bytes that it cannot take.
//
// The connection first asks for every reply ({"replies":"all"}), whatever the sidecar's default,
// so that replies match lines one to one. A control line in the input is not sent: it sets which
// replies are printed from then on, as it would choose which are sent.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

#include "sidecar/app/input_lines.hpp"
#include "sidecar/app/publish_progress.hpp"
#include "sidecar/app/reply_stream.hpp"
#include "sidecar/config/config.hpp"
#include "sidecar/ingest/reply_mode.hpp"

namespace sidecar {

class PublishPipeline : private ReplyStream::Sink {
 public:
  static constexpr std::size_t kMaxInFlight = 1024;
  static constexpr std::size_t kMaxInFlightBytes = 128 * KiB;
  static constexpr std::size_t kOutputBuffer = 1 * MiB;

  struct Fds {
    int socket = -1;  // connected to the publish socket; the caller owns it
    int input = -1;   // NDJSON lines to send; -1: none (only add_line())
    int output = 1;   // reply lines
    int errors = 2;   // progress, and the sidecar's word when it ends the connection
  };
  struct Options {
    bool quiet = false;     // print only the replies of refused lines
    bool progress = false;  // a progress line a second on long runs, and a summary
    // No reply for this long while lines await theirs: the run ends as kLost.
    std::chrono::milliseconds reply_timeout{30000};
  };
  enum class End {
    kAnswered,  // every line sent got its reply
    kLost,      // the connection ended first
    kProtocol,  // the other end sent something that is no reply of the sidecar's
  };
  struct Outcome {
    End end = End::kAnswered;
    PublishCounts counts;
    std::uint64_t unanswered = 0;   // kLost: lines sent that got no reply
    std::uint64_t resend_from = 0;  // kLost: the input line number to resend from
    bool input_left = false;        // kLost: input that was not (wholly) sent
    bool refused = false;           // kLost: the sidecar refused the connection (it read no line)
    bool timed_out = false;         // kLost: no reply came within Options::reply_timeout
    std::string protocol_line;      // kProtocol: the start of what came instead of a reply
    std::string input_error;        // reading the input failed (it counts as ended there)
  };

  PublishPipeline(Fds fds, Options options);
  // A line sent before any input (the command line's one event), as input line 1.
  void add_line(std::string_view line);
  Outcome run();

 private:
  struct Pending {
    std::uint64_t number;  // input line number
    std::size_t bytes;
    ReplyMode mode;  // which replies are printed for it
  };
  enum class Dest : std::uint8_t { kNone, kOutput, kNotice, kProtocol };

  bool room() const;
  bool finished() const;
  void queue_input();
  void line_queued(std::uint64_t number, std::size_t bytes);  // it awaits its reply
  void read_input();
  void read_socket();
  void write_socket();
  void write_output();
  void flush_output();
  std::size_t output_backlog() const { return out_.size() - out_pos_; }
  void say(const std::string& text) const;  // one line on the errors descriptor
  Outcome outcome() const;

  void begin(ReplyStream::Kind kind) override;
  void bytes(std::string_view piece) override;
  void end() override;

  Fds fds_;
  Options options_;
  InputLines input_;
  bool input_ended_ = false;      // finish() was called: no more input will come
  bool input_exhausted_ = false;  // ... and every line of it was queued
  std::string input_error_;
  std::string send_;  // queued for the socket, from send_pos_
  std::size_t send_pos_ = 0;
  bool send_failed_ = false;
  bool write_shut_ = false;  // everything was sent, and the socket's sending side shut
  bool socket_ended_ = false;
  std::deque<Pending> in_flight_;  // lines sent, in order, each awaiting its reply
  std::size_t in_flight_bytes_ = 0;
  bool preface_pending_ = true;  // the {"replies":"all"} line is not acknowledged yet
  bool timed_out_ = false;
  PublishProgress::Clock::time_point last_heard_{};  // a reply last came, or none was awaited
  bool refused_ = false;           // told why before the preface was answered: refused
  bool piece_open_ = false;        // a long line is being queued in pieces
  std::uint64_t last_queued_ = 0;  // input line number of the last line queued (or begun)
  ReplyMode mode_ = ReplyMode::kAll;
  ReplyStream replies_;
  Dest dest_ = Dest::kNone;  // where the reply line being read goes
  std::string notice_;
  std::optional<std::string> protocol_line_;
  std::string out_;  // replies for the output, from out_pos_
  std::size_t out_pos_ = 0;
  bool out_closed_ = false;
  PublishCounts counts_;
};

}  // namespace sidecar
