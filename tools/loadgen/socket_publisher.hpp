// Publishes to the sidecar's Unix socket: one NDJSON line {"topic":…,"data":…} per event.
//
// At --rate 0 lines go out in 64 KiB batches, as fast as the socket takes them; paced, each
// tick writes the events due. Replies (one line per event, in order) are read concurrently, so
// the sidecar never pauses this publisher for unread replies, and counted as ok or error.
#pragma once

#include <memory>
#include <string>

#include "tools/loadgen/publisher.hpp"

namespace loadgen {

class SocketPublisher final : public Publisher {
 public:
  explicit SocketPublisher(PublishOptions options);
  ~SocketPublisher() override;

 private:
  bool open(std::string& error) override;
  void pump() override;

  static void on_readable(evutil_socket_t, short, void* arg);
  static void on_writable(evutil_socket_t, short, void* arg);
  void append_line();
  // Writes pending bytes; arms the write event while some remain. False when the socket failed.
  bool flush();
  void read_replies();
  void reply_line(std::string_view line);

  sidecar::UniqueFd fd_;
  sidecar::EventPtr read_ev_;
  sidecar::EventPtr write_ev_;
  std::string out_;
  size_t out_sent_ = 0;
  std::string topic_;        // scratch for the topic being quoted
  std::string reply_carry_;  // a reply line split across reads
  std::unique_ptr<char[]> read_buffer_;
  bool write_armed_ = false;
};

}  // namespace loadgen
