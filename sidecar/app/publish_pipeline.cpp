#include "sidecar/app/publish_pipeline.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <limits>

#include "sidecar/ingest/publish_message.hpp"

namespace sidecar {
namespace {

constexpr std::size_t kHoldLine = 1 * MiB;  // input lines up to this are held whole
constexpr std::size_t kReadBytes = 64 * KiB;
constexpr std::size_t kSendBuffer = 256 * KiB;  // queued for the socket before input waits
constexpr std::size_t kNoticeBytes = 4096;
constexpr std::string_view kPreface = "{\"replies\":\"all\"}\n";

// The reply mode a line of the input sets, when it is a control line as the sidecar reads one.
std::optional<ReplyMode> control_line(std::string_view line) {
  // Only a line that could name the key (an escape may spell it) is parsed.
  if (line.find("replies") == std::string_view::npos && line.find('\\') == std::string_view::npos) {
    return std::nullopt;
  }
  PublishMessage m = parse_publish_line(line, std::numeric_limits<std::size_t>::max());
  if (!m.ok) return std::nullopt;
  return m.replies;
}

bool again(int err) {
  return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

}  // namespace

PublishPipeline::PublishPipeline(Fds fds, Options options)
    : fds_(fds),
      options_(options),
      input_(kHoldLine),
      send_(kPreface),
      mode_(options.quiet ? ReplyMode::kErrors : ReplyMode::kAll) {
  if (fds_.input < 0) {
    input_.finish();
    input_ended_ = true;
  }
}

void PublishPipeline::add_line(std::string_view line) {
  send_.append(line);
  send_.push_back('\n');
  line_queued(1, line.size() + 1);
}

void PublishPipeline::line_queued(std::uint64_t number, std::size_t bytes) {
  in_flight_.push_back({number, bytes, mode_});
  in_flight_bytes_ += bytes;
  ++counts_.sent;
  last_queued_ = number;
}

bool PublishPipeline::room() const {
  if (send_failed_ || socket_ended_ || send_.size() - send_pos_ >= kSendBuffer ||
      output_backlog() >= kOutputBuffer) {
    return false;
  }
  // The rest of a long line goes on whatever awaits a reply: the sidecar may answer it only
  // once it has the whole line.
  return piece_open_ || (in_flight_.size() < kMaxInFlight &&
                         (in_flight_.empty() || in_flight_bytes_ < kMaxInFlightBytes));
}

bool PublishPipeline::finished() const {
  return input_exhausted_ && !piece_open_ && send_pos_ == send_.size() && !preface_pending_ &&
         in_flight_.empty();
}

void PublishPipeline::queue_input() {
  while (!input_exhausted_ && room()) {
    InputLines::Item item = input_.next();
    if (item.kind == InputLines::Kind::kNone) {
      input_exhausted_ = input_ended_;
      return;
    }
    if (item.kind == InputLines::Kind::kLine) {
      // Blank as the sidecar sees it (without the CR of a CRLF, only spaces and tabs): it
      // skips such a line without a reply.
      std::string_view body = item.bytes;
      if (!body.empty() && body.back() == '\r') body.remove_suffix(1);
      if (body.find_first_not_of(" \t") == std::string_view::npos) continue;
      if (auto mode = control_line(body)) {
        mode_ = *mode;
        continue;
      }
      send_.append(item.bytes);
      send_.push_back('\n');
      line_queued(item.number, item.bytes.size() + 1);
      continue;
    }
    // A piece of a line too long to hold: on its way as it comes; the sidecar judges it. It
    // awaits its reply from its first piece on: a line over the sidecar's limit is answered
    // as soon as the limit is passed, before its end is sent. Its first piece stands for its
    // size (what its reply may echo is bounded by what the sidecar takes).
    send_.append(item.bytes);
    if (!piece_open_) {
      piece_open_ = true;
      line_queued(item.number, item.bytes.size());
    }
    if (item.ends) {
      send_.push_back('\n');
      piece_open_ = false;
    }
  }
}

void PublishPipeline::read_input() {
  char buf[kReadBytes];
  ssize_t n = ::read(fds_.input, buf, sizeof(buf));
  if (n > 0) {
    input_.append({buf, static_cast<std::size_t>(n)});
    return;
  }
  if (n < 0 && again(errno)) return;
  if (n < 0) input_error_ = std::strerror(errno);
  input_.finish();
  input_ended_ = true;
}

void PublishPipeline::read_socket() {
  char buf[64 * KiB];
  ssize_t n = ::recv(fds_.socket, buf, sizeof(buf), MSG_DONTWAIT);
  if (n > 0) {
    last_heard_ = PublishProgress::Clock::now();
    replies_.feed({buf, static_cast<std::size_t>(n)}, *this);
    return;
  }
  if (n < 0 && again(errno)) return;
  socket_ended_ = true;  // closed, or reset: nothing more will be answered
  if (replies_.inside_line() && dest_ == Dest::kNotice) end();
}

void PublishPipeline::write_socket() {
  ssize_t n = ::send(fds_.socket, send_.data() + send_pos_, send_.size() - send_pos_,
                     MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n < 0) {
    // The sidecar closed: what it sent before is still read, up to the end of the stream.
    if (!again(errno)) send_failed_ = true;
    return;
  }
  send_pos_ += static_cast<std::size_t>(n);
  if (send_pos_ == send_.size()) {
    send_.clear();
    send_pos_ = 0;
  } else if (send_pos_ >= kSendBuffer) {
    send_.erase(0, send_pos_);
    send_pos_ = 0;
  }
}

void PublishPipeline::write_output() {
  // A write of at most PIPE_BUF bytes to a pipe that polled writable does not block, so a slow
  // reader of the output never stops the loop (and the descriptor, shared with the caller, is
  // left blocking).
  std::size_t len = std::min<std::size_t>(output_backlog(), PIPE_BUF);
  ssize_t n = ::write(fds_.output, out_.data() + out_pos_, len);
  if (n == 0 || (n < 0 && again(errno))) return;
  if (n < 0) {
    // A closed pipe (`| head -1`): the replies are no longer printed, the input is still sent.
    if (errno != EPIPE)
      say(std::string("cannot write to standard output: ") + std::strerror(errno));
    out_closed_ = true;
    out_.clear();
    out_pos_ = 0;
    return;
  }
  out_pos_ += static_cast<std::size_t>(n);
  if (out_pos_ == out_.size()) {
    out_.clear();
    out_pos_ = 0;
  } else if (out_pos_ >= kOutputBuffer / 2) {
    out_.erase(0, out_pos_);
    out_pos_ = 0;
  }
}

void PublishPipeline::flush_output() {
  while (!out_closed_ && output_backlog() > 0) {
    pollfd p{fds_.output, POLLOUT, 0};
    if (::poll(&p, 1, -1) < 0 && errno != EINTR) return;
    write_output();
  }
}

void PublishPipeline::say(const std::string& text) const {
  std::string line = "sse-sidecar publish: " + text + "\n";
  std::size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(fds_.errors, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

void PublishPipeline::begin(ReplyStream::Kind kind) {
  using Kind = ReplyStream::Kind;
  notice_.clear();
  if (preface_pending_) {
    if (kind == Kind::kRepliesAll) {
      preface_pending_ = false;
      dest_ = Dest::kNone;
    } else {
      // A peer the sidecar refuses is told why before any line is read.
      refused_ = kind != Kind::kOther;
      dest_ = refused_ ? Dest::kNotice : Dest::kProtocol;
    }
    return;
  }
  if (kind == Kind::kClosing) {
    dest_ = Dest::kNotice;
    return;
  }
  if (kind == Kind::kOther || kind == Kind::kRepliesAll || in_flight_.empty()) {
    dest_ = Dest::kProtocol;
    return;
  }
  Pending line = in_flight_.front();
  in_flight_.pop_front();
  in_flight_bytes_ -= line.bytes;
  bool ok = kind == Kind::kAccepted;
  ++(ok ? counts_.accepted : counts_.refused);
  dest_ = !out_closed_ && wants_reply(line.mode, ok) ? Dest::kOutput : Dest::kNone;
}

void PublishPipeline::bytes(std::string_view piece) {
  if (dest_ == Dest::kOutput) {
    out_.append(piece);
  } else if (dest_ == Dest::kNotice || dest_ == Dest::kProtocol) {
    notice_.append(piece.substr(0, kNoticeBytes - std::min(kNoticeBytes, notice_.size())));
  }
}

void PublishPipeline::end() {
  if (dest_ == Dest::kOutput) out_.push_back('\n');
  if (dest_ == Dest::kNotice) say("the sidecar ends the connection: " + notice_);
  if (dest_ == Dest::kProtocol && !protocol_line_) protocol_line_ = notice_;
  dest_ = Dest::kNone;
}

PublishPipeline::Outcome PublishPipeline::run() {
  using Clock = PublishProgress::Clock;
  PublishProgress progress(Clock::now());
  last_heard_ = Clock::now();  // the lines queued before the run wait from here
  while (true) {
    queue_input();
    if (protocol_line_ || finished() || socket_ended_) break;
    if (!write_shut_ && input_exhausted_ && !piece_open_ && send_pos_ == send_.size()) {
      // All is sent: the sidecar answers what it read, then ends the connection, so a reply
      // that is never coming cannot hold the command.
      ::shutdown(fds_.socket, SHUT_WR);
      write_shut_ = true;
    }
    bool want_input = !input_ended_ && input_.drained() && room();
    short socket_events = 0;
    if (output_backlog() < kOutputBuffer) socket_events |= POLLIN;
    if (send_pos_ < send_.size() && !send_failed_) socket_events |= POLLOUT;
    bool want_output = !out_closed_ && output_backlog() > 0;
    // A descriptor not watched is left out (-1): a hung-up one would wake every poll.
    pollfd fds[3] = {{want_input ? fds_.input : -1, POLLIN, 0},
                     {socket_events != 0 ? fds_.socket : -1, socket_events, 0},
                     {want_output ? fds_.output : -1, POLLOUT, 0}};
    auto now = Clock::now();
    if (in_flight_.empty()) last_heard_ = now;
    auto silent = std::chrono::duration_cast<std::chrono::milliseconds>(now - last_heard_);
    if (silent >= options_.reply_timeout) {
      timed_out_ = true;
      say("no reply from the sidecar for " + std::to_string(silent.count()) +
          " ms (--reply-timeout): giving up");
      break;
    }
    int timeout = -1;
    if (options_.progress) timeout = static_cast<int>(progress.until_due(now).count());
    if (!in_flight_.empty()) {
      int left = static_cast<int>((options_.reply_timeout - silent).count());
      timeout = timeout < 0 ? left : std::min(timeout, left);
    }
    if (::poll(fds, 3, timeout) < 0) {
      if (errno == EINTR) continue;
      say(std::string("poll: ") + std::strerror(errno));
      break;
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) read_socket();
    if ((fds[1].revents & POLLOUT) && !socket_ended_) write_socket();
    if (fds[0].revents != 0) read_input();
    if (fds[2].revents != 0) write_output();
    if (options_.progress) {
      if (auto line = progress.line(Clock::now(), counts_)) say(*line);
    }
  }
  flush_output();
  Outcome result = outcome();
  if (progress.shown()) say(progress.summary(Clock::now(), counts_, result.unanswered));
  return result;
}

PublishPipeline::Outcome PublishPipeline::outcome() const {
  Outcome o;
  o.counts = counts_;
  o.input_error = input_error_;
  if (protocol_line_) {
    o.end = End::kProtocol;
    o.protocol_line = *protocol_line_;
  } else if (!finished()) {
    o.end = End::kLost;
    o.unanswered = in_flight_.size();
    o.resend_from = !in_flight_.empty() ? in_flight_.front().number : last_queued_ + 1;
    o.input_left = !input_exhausted_ || piece_open_;
    o.refused = refused_;
    o.timed_out = timed_out_;
  }
  return o;
}

}  // namespace sidecar
