#include "sidecar/stream/connection_limits.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

using namespace sidecar;
using namespace std::chrono_literals;
using Verdict = ConnectionLimits::Verdict;

namespace {

LimitsConfig limits(std::size_t per_ip, std::size_t per_subject, double rate = 0,
                    std::size_t burst = 20) {
  LimitsConfig c;
  c.max_connections_per_ip = per_ip;
  c.max_connections_per_subject = per_subject;
  c.connect_rate_per_ip = rate;
  c.connect_burst_per_ip = burst;
  return c;
}

// admit_ip without caring about Retry-After; the value it leaves untouched on success is -1.
Verdict admit(ConnectionLimits& l, const std::string& ip) {
  int retry_after = -1;
  return l.admit_ip(ip, retry_after);
}

}  // namespace

TEST_CASE("open streams per IP are capped, with Retry-After 5", "[connection_limits]") {
  ConnectionLimits l(limits(2, 0));
  int retry_after = -1;
  CHECK(l.admit_ip("203.0.113.7", retry_after) == Verdict::kOk);
  CHECK(l.admit_ip("203.0.113.7", retry_after) == Verdict::kOk);
  CHECK(retry_after == -1);  // not touched while admitted
  CHECK(l.admit_ip("203.0.113.7", retry_after) == Verdict::kTooManyForIp);
  CHECK(retry_after == 5);
  // Refusals are not counted: still refused after one more try, free after one release.
  CHECK(admit(l, "203.0.113.7") == Verdict::kTooManyForIp);
  // Other addresses have their own count.
  CHECK(admit(l, "203.0.113.8") == Verdict::kOk);
  CHECK(admit(l, "2001:db8::1") == Verdict::kOk);

  l.release_ip("203.0.113.7");
  CHECK(admit(l, "203.0.113.7") == Verdict::kOk);
  CHECK(admit(l, "203.0.113.7") == Verdict::kTooManyForIp);
}

TEST_CASE("0 means no cap on streams per IP or per subject", "[connection_limits]") {
  ConnectionLimits l(limits(0, 0));
  for (int i = 0; i < 1000; ++i) {
    REQUIRE(admit(l, "203.0.113.7") == Verdict::kOk);
    REQUIRE(l.admit_subject("alice") == Verdict::kOk);
  }
}

TEST_CASE("open streams per subject are capped and released", "[connection_limits]") {
  ConnectionLimits l(limits(0, 3));
  for (int i = 0; i < 3; ++i) CHECK(l.admit_subject("alice") == Verdict::kOk);
  CHECK(l.admit_subject("alice") == Verdict::kTooManyForSubject);
  CHECK(l.admit_subject("alice") == Verdict::kTooManyForSubject);
  CHECK(l.admit_subject("bob") == Verdict::kOk);
  l.release_subject("alice");
  CHECK(l.admit_subject("alice") == Verdict::kOk);
  CHECK(l.admit_subject("alice") == Verdict::kTooManyForSubject);
  // Subjects and IPs are counted apart even when they are the same text.
  CHECK(admit(l, "alice") == Verdict::kOk);
}

TEST_CASE("releasing more than was admitted never frees extra slots", "[connection_limits]") {
  ConnectionLimits l(limits(1, 1));
  l.release_ip("203.0.113.7");  // never admitted
  l.release_subject("alice");
  CHECK(admit(l, "203.0.113.7") == Verdict::kOk);
  CHECK(admit(l, "203.0.113.7") == Verdict::kTooManyForIp);
  CHECK(l.admit_subject("alice") == Verdict::kOk);
  CHECK(l.admit_subject("alice") == Verdict::kTooManyForSubject);

  l.release_ip("203.0.113.7");
  l.release_ip("203.0.113.7");  // once too often: the count must not wrap or go negative
  l.release_subject("alice");
  l.release_subject("alice");
  CHECK(admit(l, "203.0.113.7") == Verdict::kOk);
  CHECK(admit(l, "203.0.113.7") == Verdict::kTooManyForIp);
  CHECK(l.admit_subject("alice") == Verdict::kOk);
  CHECK(l.admit_subject("alice") == Verdict::kTooManyForSubject);
}

TEST_CASE("new connections per IP: a burst, then refused with Retry-After from the rate",
          "[connection_limits]") {
  ConnectionLimits l(limits(0, 0, 0.5, 3));  // one token every 2 s, 3 at once
  int retry_after = -1;
  for (int i = 0; i < 3; ++i) CHECK(l.admit_ip("203.0.113.7", retry_after) == Verdict::kOk);
  CHECK(l.admit_ip("203.0.113.7", retry_after) == Verdict::kTooFastForIp);
  CHECK(retry_after == 2);
  // Closing streams gives no connection back: the rate is about new connections.
  for (int i = 0; i < 3; ++i) l.release_ip("203.0.113.7");
  CHECK(admit(l, "203.0.113.7") == Verdict::kTooFastForIp);
  // Each address has its own bucket.
  CHECK(admit(l, "203.0.113.8") == Verdict::kOk);
}

TEST_CASE("Retry-After rounds the wait up to whole seconds, at least 1", "[connection_limits]") {
  SECTION("fast rate") {
    ConnectionLimits l(limits(0, 0, 20, 1));
    int retry_after = -1;
    CHECK(l.admit_ip("203.0.113.7", retry_after) == Verdict::kOk);
    CHECK(l.admit_ip("203.0.113.7", retry_after) == Verdict::kTooFastForIp);
    CHECK(retry_after == 1);
  }
  SECTION("slow rate") {
    ConnectionLimits l(limits(0, 0, 0.1, 1));
    int retry_after = -1;
    CHECK(l.admit_ip("203.0.113.7", retry_after) == Verdict::kOk);
    CHECK(l.admit_ip("203.0.113.7", retry_after) == Verdict::kTooFastForIp);
    CHECK(retry_after == 10);
  }
}

TEST_CASE("the connect rate refills over time, never beyond the burst", "[connection_limits]") {
  ConnectionLimits l(limits(0, 0, 20, 1));  // a token every 50 ms, one at a time
  CHECK(admit(l, "203.0.113.7") == Verdict::kOk);
  CHECK(admit(l, "203.0.113.7") == Verdict::kTooFastForIp);
  std::this_thread::sleep_for(150ms);  // three tokens' worth, capped at one
  CHECK(admit(l, "203.0.113.7") == Verdict::kOk);
  CHECK(admit(l, "203.0.113.7") == Verdict::kTooFastForIp);
}

TEST_CASE("a refusal by the per-IP cap spends no connect token", "[connection_limits]") {
  ConnectionLimits l(limits(1, 0, 0.001, 2));      // two connections, practically no refill
  CHECK(admit(l, "203.0.113.7") == Verdict::kOk);  // token 1
  CHECK(admit(l, "203.0.113.7") == Verdict::kTooManyForIp);  // no token spent
  CHECK(admit(l, "203.0.113.7") == Verdict::kTooManyForIp);
  l.release_ip("203.0.113.7");
  CHECK(admit(l, "203.0.113.7") == Verdict::kOk);  // token 2
  l.release_ip("203.0.113.7");
  int retry_after = -1;
  CHECK(l.admit_ip("203.0.113.7", retry_after) == Verdict::kTooFastForIp);
  CHECK(retry_after > 5);
}

TEST_CASE("a refusal by the connect rate is not counted as an open stream", "[connection_limits]") {
  ConnectionLimits l(limits(1, 0, 0.001, 1));
  CHECK(admit(l, "203.0.113.7") == Verdict::kOk);
  l.release_ip("203.0.113.7");
  CHECK(admit(l, "203.0.113.7") == Verdict::kTooFastForIp);
  CHECK(admit(l, "203.0.113.7") == Verdict::kTooFastForIp);
  // Without the rate, the one slot is free: the refused attempts took none.
  l.configure(limits(1, 0, 0, 1));
  CHECK(admit(l, "203.0.113.7") == Verdict::kOk);
  CHECK(admit(l, "203.0.113.7") == Verdict::kTooManyForIp);
}

TEST_CASE("configure() applies new limits to the streams already counted", "[connection_limits]") {
  ConnectionLimits l(limits(3, 3));
  for (int i = 0; i < 3; ++i) {
    REQUIRE(admit(l, "203.0.113.7") == Verdict::kOk);
    REQUIRE(l.admit_subject("alice") == Verdict::kOk);
  }
  l.configure(limits(2, 2));
  CHECK(admit(l, "203.0.113.7") == Verdict::kTooManyForIp);
  CHECK(l.admit_subject("alice") == Verdict::kTooManyForSubject);
  l.release_ip("203.0.113.7");  // 2 open: still at the new cap
  l.release_subject("alice");
  CHECK(admit(l, "203.0.113.7") == Verdict::kTooManyForIp);
  CHECK(l.admit_subject("alice") == Verdict::kTooManyForSubject);
  l.release_ip("203.0.113.7");
  l.release_subject("alice");
  CHECK(admit(l, "203.0.113.7") == Verdict::kOk);
  CHECK(l.admit_subject("alice") == Verdict::kOk);

  // Lifting the caps and turning on the rate.
  l.configure(limits(0, 0, 0.001, 1));
  CHECK(admit(l, "198.51.100.1") == Verdict::kOk);
  CHECK(admit(l, "198.51.100.1") == Verdict::kTooFastForIp);
  l.configure(limits(0, 0));
  CHECK(admit(l, "198.51.100.1") == Verdict::kOk);
}

TEST_CASE("further HTTP/2 streams count per IP, without the connect rate", "[connection_limits]") {
  // A rate that allows a single new connection: streams on it do not take from it.
  ConnectionLimits l(limits(3, 0, 0.001, 1));
  CHECK(admit(l, "203.0.113.9") == Verdict::kOk);
  CHECK(l.admit_ip_stream("203.0.113.9") == Verdict::kOk);
  CHECK(l.admit_ip_stream("203.0.113.9") == Verdict::kOk);
  CHECK(l.admit_ip_stream("203.0.113.9") == Verdict::kTooManyForIp);
  l.release_ip("203.0.113.9");
  CHECK(l.admit_ip_stream("203.0.113.9") == Verdict::kOk);
  CHECK(admit(l, "203.0.113.10") == Verdict::kOk);  // another address has its own count
}
