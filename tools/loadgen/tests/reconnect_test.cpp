// Tests of a subscriber that reopens its streams with Last-Event-ID, against a small loopback
// server that resumes after the id it is given: the numbers are checked across the seam.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sidecar/net/libevent.hpp"
#include "tools/loadgen/clock.hpp"
#include "tools/loadgen/payload.hpp"
#include "tools/loadgen/subscriber_fleet.hpp"
#include "tools/loadgen/tests/loopback_listener.hpp"

using namespace loadgen;

namespace {

// Serves SSE streams one connection after another. Each gets the events numbered after its
// Last-Event-ID (ids are the numbers), at most `per_connection` of them and none past `last`,
// then is held open until the client closes it. `skip` is a number never sent (0: none).
class ResumingServer {
 public:
  ResumingServer(uint64_t per_connection, uint64_t last, uint64_t skip = 0)
      : per_connection_(per_connection), last_(last), skip_(skip) {
    auto listener = test::listen_on_loopback(4);
    listener_ = std::move(listener.fd);
    address_ = listener.address;
    thread_ = std::thread([this] { serve(); });
  }
  ~ResumingServer() {
    stop_ = true;
    thread_.join();
  }

  const sockaddr_in& address() const { return address_; }
  // The Last-Event-ID of every request, "" where there was none.
  std::vector<std::string> resumed_from() {
    std::lock_guard<std::mutex> lock(mutex_);
    return resumed_from_;
  }

 private:
  // Waits up to 50 ms for `fd` to become readable.
  static bool readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 50) == 1;
  }

  void serve() {
    int64_t deadline = monotonic_ns() + 10'000'000'000;
    while (!stop_ && monotonic_ns() < deadline) {
      if (!readable(listener_.get())) continue;
      sidecar::UniqueFd conn(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (conn) stream(conn.get());
    }
  }

  void stream(int fd) {
    std::string request;
    char buf[4096];
    while (request.find("\r\n\r\n") == std::string::npos) {
      if (stop_) return;
      if (!readable(fd)) continue;
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return;
      request.append(buf, static_cast<size_t>(n));
    }
    std::string from;
    constexpr std::string_view kHeader = "\r\nLast-Event-ID: ";
    if (size_t at = request.find(kHeader); at != std::string::npos) {
      size_t start = at + kHeader.size();
      from = request.substr(start, request.find("\r\n", start) - start);
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      resumed_from_.push_back(from);
    }
    uint64_t after = from.empty() ? 0 : std::stoull(from);
    std::string out = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n";
    for (uint64_t n = after + 1; n <= after + per_connection_ && n <= last_; ++n) {
      if (n == skip_) continue;
      out += "id: " + std::to_string(n) + "\ndata: ";
      append_sequenced_payload(out, realtime_ns(), 0, n, 40);
      out += "\n\n";
    }
    ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
    // Hold the stream until the client goes away.
    while (!stop_) {
      if (readable(fd) && ::recv(fd, buf, sizeof buf, 0) <= 0) return;
    }
  }

  uint64_t per_connection_;
  uint64_t last_;
  uint64_t skip_;
  sidecar::UniqueFd listener_;
  sockaddr_in address_{};
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::vector<std::string> resumed_from_;
  std::thread thread_;
};

SubscribeOptions resuming_stream(const sockaddr_in& server, uint64_t end) {
  SubscribeOptions o;
  std::string error;
  o.url = *parse_http_url("http://127.0.0.1/events", error);
  o.target = *IndexTemplate::parse("/events", error);
  o.server = server;
  o.connections = 1;
  o.sources = 0;
  o.timeout_s = 5;
  o.progress = false;
  o.check_sequence = true;
  o.sequence_first = 1;
  o.sequence_end = end;
  o.reconnect_rate = 20;  // every 50 ms
  return o;
}

}  // namespace

TEST_CASE("a reopened stream sends Last-Event-ID and its numbers continue across the seam") {
  ResumingServer server(3, 6);
  SubscriberFleet fleet(resuming_stream(server.address(), 6));
  std::string error;
  REQUIRE(fleet.run(error));
  const SubscribeStats& s = fleet.stats();
  CHECK(s.complete == 1);
  CHECK_FALSE(s.timed_out);
  CHECK(s.reconnects >= 1);
  CHECK(s.reconnected == s.reconnects);
  CHECK(s.reconnect_failed == 0);
  CHECK(s.connected == 1);  // a reopened stream is not counted as a new one
  CHECK(s.sequence.checked == 6);
  CHECK(s.sequence.lost == 0);
  CHECK(s.sequence.duplicated == 0);
  CHECK(s.sequence_shortfall == 0);
  CHECK(s.max_gap_ns > 0);  // the reconnect lies between events 3 and 4
  std::vector<std::string> from = server.resumed_from();
  REQUIRE(from.size() >= 2);
  CHECK(from[0].empty());
  CHECK(from[1] == "3");
}

TEST_CASE("a number the server never sends is lost, and a stream short of the end incomplete") {
  ResumingServer server(10, 5, 3);
  SubscribeOptions o = resuming_stream(server.address(), 6);
  o.reconnect_rate = 0;
  o.timeout_s = 0.5;
  SubscriberFleet fleet(o);
  std::string error;
  REQUIRE(fleet.run(error));
  const SubscribeStats& s = fleet.stats();
  CHECK(s.complete == 0);
  CHECK(s.timed_out);
  CHECK(s.sequence.checked == 4);
  CHECK(s.sequence.lost == 1);
  CHECK(s.sequence_shortfall == 1);  // 6 never came
}
