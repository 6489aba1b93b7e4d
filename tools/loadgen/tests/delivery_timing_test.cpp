// Tests of what a burst is timed with: the subscriber's delivery window, the publisher's send
// stamps, and a subscriber holding its streams open after the last expected event.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <string>
#include <thread>
#include <vector>

#include "sidecar/net/libevent.hpp"
#include "tools/loadgen/clock.hpp"
#include "tools/loadgen/delivery_window.hpp"
#include "tools/loadgen/payload.hpp"
#include "tools/loadgen/publisher.hpp"
#include "tools/loadgen/subscriber_fleet.hpp"
#include "tools/loadgen/tests/loopback_listener.hpp"

using namespace loadgen;

TEST_CASE("the delivery window spans first to last receive and the extreme stamps") {
  DeliveryWindow w;
  CHECK(w.count() == 0);
  CHECK(w.per_second() == 0);
  CHECK(w.earliest_stamp_to_last_receive_ns() == 0);

  w.add(1'000, std::nullopt);
  CHECK(w.first_receive_ns() == 1'000);
  CHECK(w.earliest_stamp_ns() == 0);
  CHECK(w.earliest_stamp_to_last_receive_ns() == 0);  // nothing stamped yet

  // Streams are read in any order: a later receive may carry an earlier stamp.
  w.add(2'000, 900);
  w.add(3'000, 800);
  w.add(1'000'001'000, 950);
  CHECK(w.count() == 4);
  CHECK(w.first_receive_ns() == 1'000);
  CHECK(w.last_receive_ns() == 1'000'001'000);
  CHECK(w.earliest_stamp_ns() == 800);
  CHECK(w.latest_stamp_ns() == 950);
  CHECK(w.earliest_stamp_to_last_receive_ns() == 1'000'000'200);
  CHECK(w.per_second() == Approx(4.0));
}

namespace {

// A target that takes each event the moment it is due and answers it at once.
class InstantPublisher final : public Publisher {
 public:
  using Publisher::Publisher;
  std::vector<int64_t> stamps;

 private:
  bool open(std::string&) override { return true; }
  void pump() override {
    while (!all_sent() && stats().sent < due()) {
      stamps.push_back(stamp());
      note_sent();
      note_reply(true);
    }
  }
};

}  // namespace

TEST_CASE("the publisher reports the stamps of its first and last event") {
  PublishOptions o;
  std::string error;
  o.topics = *IndexTemplate::parse("t", error);
  o.events = 5;
  o.rate = 500;  // 2 ms apart
  o.progress = false;
  InstantPublisher p(o);
  int64_t before = realtime_ns();
  REQUIRE(p.run(error));
  REQUIRE(p.stamps.size() == 5);
  CHECK(p.stats().first_stamp_ns == p.stamps.front());
  CHECK(p.stats().last_stamp_ns == p.stamps.back());
  CHECK(p.stats().first_stamp_ns >= before);
  CHECK(p.stats().last_stamp_ns - p.stats().first_stamp_ns >= 7'000'000);  // 4 intervals
}

namespace {

// One SSE stream on loopback: answers the first request with two stamped events, then holds
// the stream until the client closes it.
class TwoEventServer {
 public:
  TwoEventServer() {
    auto listener = test::listen_on_loopback(1);
    listener_ = std::move(listener.fd);
    address_ = listener.address;
    thread_ = std::thread([this] { serve(); });
  }
  ~TwoEventServer() { thread_.join(); }

  const sockaddr_in& address() const { return address_; }
  int64_t stamp(size_t i) const { return stamps_[i]; }

 private:
  // Waits up to 10 s for `fd` to become readable; false on timeout.
  static bool readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 10'000) == 1;
  }

  void serve() {
    if (!readable(listener_.get())) return;
    sidecar::UniqueFd conn(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn) return;
    std::string request;
    char buf[4096];
    while (request.find("\r\n\r\n") == std::string::npos) {
      if (!readable(conn.get())) return;
      ssize_t n = ::recv(conn.get(), buf, sizeof buf, 0);
      if (n <= 0) return;
      request.append(buf, static_cast<size_t>(n));
    }
    std::string out = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n";
    for (int64_t& s : stamps_) {
      s = realtime_ns();
      out += "data: ";
      append_payload(out, s, 30);
      out += "\n\n";
    }
    ::send(conn.get(), out.data(), out.size(), MSG_NOSIGNAL);
    // Hold the stream until the client goes away.
    while (readable(conn.get()) && ::recv(conn.get(), buf, sizeof buf, 0) > 0) {
    }
  }

  sidecar::UniqueFd listener_;
  sockaddr_in address_{};
  int64_t stamps_[2] = {0, 0};
  std::thread thread_;
};

SubscribeOptions one_stream(const sockaddr_in& server, uint64_t expect, double linger_s) {
  SubscribeOptions o;
  std::string error;
  o.url = *parse_http_url("http://127.0.0.1/events", error);
  o.target = *IndexTemplate::parse("/events", error);
  o.server = server;
  o.connections = 1;
  o.sources = 0;
  o.expect_events = expect;
  o.timeout_s = 10;
  o.linger_s = linger_s;
  o.progress = false;
  return o;
}

}  // namespace

TEST_CASE("a subscriber lingers with its streams open after the last expected event") {
  TwoEventServer server;
  int64_t returned_ns = 0;
  SubscribeStats s;
  {
    SubscriberFleet fleet(one_stream(server.address(), 2, 0.3));
    std::string error;
    REQUIRE(fleet.run(error));
    returned_ns = realtime_ns();
    s = fleet.stats();
  }
  CHECK(s.complete == 1);
  CHECK(s.events_received == 2);
  CHECK(s.disconnected_early == 0);
  CHECK(s.lingered);
  CHECK_FALSE(s.timed_out);  // the linger's end is not a timeout
  CHECK(s.deliveries.earliest_stamp_ns() == server.stamp(0));
  CHECK(s.deliveries.latest_stamp_ns() == server.stamp(1));
  CHECK(s.deliveries.earliest_stamp_to_last_receive_ns() >= 0);
  CHECK(returned_ns - s.deliveries.last_receive_ns() >= 300'000'000);
}

TEST_CASE("without a linger the subscriber ends at the last expected event") {
  TwoEventServer server;
  SubscriberFleet fleet(one_stream(server.address(), 2, 0));
  std::string error;
  REQUIRE(fleet.run(error));
  CHECK(fleet.stats().complete == 1);
  CHECK_FALSE(fleet.stats().lingered);
  CHECK_FALSE(fleet.stats().timed_out);
}
