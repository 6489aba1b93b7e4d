// Publishes to Nchan over HTTP/1.1: POST {base}/pub (one channel, when the topic template has
// no {i}) or POST {base}/pubm?id=<topic>, the payload as the raw body.
//
// Several keep-alive connections (--http-connections) each carry one request at a time, so
// the server's per-request latency does not cap the publish rate. A 2xx reply is ok; any other
// status, or a connection lost with a request in flight, is an error. Connections the server
// closes (nginx ends keep-alive after keepalive_requests) are reopened and counted.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tools/loadgen/http_response_decoder.hpp"
#include "tools/loadgen/publisher.hpp"

namespace loadgen {

class HttpPublisher final : public Publisher {
 public:
  explicit HttpPublisher(PublishOptions options);
  ~HttpPublisher() override;

 private:
  struct Connection;

  bool open(std::string& error) override;
  void pump() override;

  static void on_io(evutil_socket_t, short what, void* arg);
  // Opens (or reopens) `c`; false with `error` when the server cannot be reached.
  bool connect(Connection& c, std::string& error);
  void send_next(Connection& c);
  void write(Connection& c);
  void read(Connection& c);
  // The response on `c` is complete: count it, then reuse or reopen the connection.
  void response_done(Connection& c);
  // `c` failed; a request in flight is counted as an error. Reopens while events remain.
  void lost(Connection& c, const std::string& why);
  void set_events(Connection& c, short what);

  std::string path_prefix_;  // the base URL's path without a trailing '/'
  std::string host_header_;
  bool single_channel_ = false;
  std::string topic_;  // scratch
  std::vector<std::unique_ptr<Connection>> conns_;
  std::unique_ptr<char[]> read_buffer_;
};

}  // namespace loadgen
