// Tests of the small helpers: templates, payload stamps and numbers, topic choice, sampling, URLs,
// args.
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "tools/loadgen/args.hpp"
#include "tools/loadgen/http_url.hpp"
#include "tools/loadgen/index_template.hpp"
#include "tools/loadgen/json_writer.hpp"
#include "tools/loadgen/latency_sampler.hpp"
#include "tools/loadgen/payload.hpp"
#include "tools/loadgen/topic_picker.hpp"

using namespace loadgen;

TEST_CASE("index templates expand {i} and {i%K}") {
  std::string error;
  auto t = IndexTemplate::parse("/events?topic=bench.{i}&x={i%3}", error);
  REQUIRE(t);
  CHECK(t->has_index());
  CHECK(t->expand(7) == "/events?topic=bench.7&x=1");
  auto plain = IndexTemplate::parse("/sub", error);
  REQUIRE(plain);
  CHECK_FALSE(plain->has_index());
  CHECK(plain->expand(5) == "/sub");
  CHECK_FALSE(IndexTemplate::parse("a{j}", error));
  CHECK_FALSE(IndexTemplate::parse("a{i%0}", error));
  CHECK_FALSE(IndexTemplate::parse("a{i", error));
}

TEST_CASE("payloads carry their stamp and have the requested size") {
  std::string p;
  append_payload(p, 1'700'000'000'123'456'789, 64);
  CHECK(p.size() == 64);
  CHECK(p.substr(0, 22) == "t=1700000000123456789;");
  CHECK(p.back() == 'x');
  CHECK(payload_timestamp(p) == 1'700'000'000'123'456'789);
  std::string small;
  append_payload(small, 42, 1);
  CHECK(small == "t=42;");
  CHECK_FALSE(payload_timestamp("hello"));
  CHECK_FALSE(payload_timestamp("t=12"));
  CHECK_FALSE(payload_timestamp("t=;x"));
  CHECK_FALSE(payload_timestamp("t=12x;"));
}

TEST_CASE("sequenced payloads carry stamp, topic index and number") {
  std::string p;
  append_sequenced_payload(p, 1'700'000'000'123'456'789, 42, 7, 64);
  CHECK(p.size() == 64);
  CHECK(p.substr(0, 29) == "t=1700000000123456789;q=42.7;");
  CHECK(payload_timestamp(p) == 1'700'000'000'123'456'789);
  auto q = payload_sequence(p);
  REQUIRE(q);
  CHECK(q->topic == 42);
  CHECK(q->seq == 7);
  std::string small;
  append_sequenced_payload(small, 5, 0, 1, 1);
  CHECK(small == "t=5;q=0.1;");
  CHECK(payload_sequence(small)->seq == 1);
  std::string plain;
  append_payload(plain, 5, 30);
  CHECK_FALSE(payload_sequence(plain));
  CHECK_FALSE(payload_sequence("t=5;q=1;"));
  CHECK_FALSE(payload_sequence("t=5;q=.1;"));
  CHECK_FALSE(payload_sequence("t=5;q=1.2"));
  CHECK_FALSE(payload_sequence("q=1.2;"));
}

TEST_CASE("topic picker: round-robin, and seeded random covering every topic") {
  TopicPicker rr(3, false, 0);
  CHECK(rr.next() == 0);
  CHECK(rr.next() == 1);
  CHECK(rr.next() == 2);
  CHECK(rr.next() == 0);
  TopicPicker a(10, true, 7), b(10, true, 7);
  std::set<uint64_t> seen;
  for (int i = 0; i < 1000; ++i) {
    uint64_t x = a.next();
    REQUIRE(x == b.next());
    REQUIRE(x < 10);
    seen.insert(x);
  }
  CHECK(seen.size() == 10);
}

TEST_CASE("the latency sampler keeps an even, bounded sample") {
  LatencySampler s(100);
  for (int64_t i = 0; i < 10'000; ++i) s.add(i, i);
  const auto& v = s.samples();
  REQUIRE(v.size() >= 50);
  REQUIRE(v.size() < 100);
  int64_t stride = v[1].receive_ns - v[0].receive_ns;
  CHECK(v[0].receive_ns == 0);
  for (size_t i = 1; i < v.size(); ++i) CHECK(v[i].receive_ns - v[i - 1].receive_ns == stride);
  CHECK(v.back().receive_ns + stride >= 10'000 - stride);
}

TEST_CASE("http URLs") {
  std::string error;
  auto u = parse_http_url("http://127.0.0.1:7700/events?topic=a", error);
  REQUIRE(u);
  CHECK(u->host == "127.0.0.1");
  CHECK(u->port == 7700);
  CHECK(u->target == "/events?topic=a");
  auto bare = parse_http_url("http://localhost", error);
  REQUIRE(bare);
  CHECK(bare->port == 80);
  CHECK(bare->target == "/");
  CHECK_FALSE(bare->https);
  CHECK(bare->authority() == "localhost");
  CHECK(u->authority() == "127.0.0.1:7700");
  auto secure = parse_http_url("https://localhost/events", error);
  REQUIRE(secure);
  CHECK(secure->https);
  CHECK(secure->port == 443);
  CHECK(secure->authority() == "localhost");
  auto secure_port = parse_http_url("https://127.0.0.1:8443/", error);
  REQUIRE(secure_port);
  CHECK(secure_port->authority() == "127.0.0.1:8443");
  CHECK_FALSE(parse_http_url("ftp://x/", error));
  CHECK_FALSE(parse_http_url("https://:443/", error));
  CHECK_FALSE(parse_http_url("http://x:99999/", error));
  sockaddr_in a{};
  REQUIRE(ipv4_plus("127.0.0.2", 3, a));
  CHECK(ntohl(a.sin_addr.s_addr) == 0x7F000005);
}

TEST_CASE("arguments: values, flags and errors") {
  constexpr OptionSpec specs[] = {{"n", true}, {"idle", false}};
  std::string a0 = "--n", a1 = "5", a2 = "--idle";
  char* argv[] = {a0.data(), a1.data(), a2.data()};
  ParsedArgs p = ParsedArgs::parse(argv, specs);
  CHECK(p.integer("n", 0, 0, 10) == 5);
  CHECK(p.has("idle"));
  CHECK_THROWS_AS(p.integer("n", 0, 6, 10), UsageError);
  std::string b0 = "--nope";
  char* bad[] = {b0.data()};
  CHECK_THROWS_AS(ParsedArgs::parse(bad, specs), UsageError);
  std::string c0 = "--n=x";
  char* nan[] = {c0.data()};
  CHECK_THROWS_AS(ParsedArgs::parse(nan, specs).integer("n", 0, 0, 10), UsageError);
}

TEST_CASE("json objects quote and escape") {
  JsonObject o;
  o.add_string("s", "a\"b\n").add_uint("n", 3).add_double("d", 1.5).add_raw("o", "{}");
  CHECK(o.str() == R"({"s":"a\"b\n","n":3,"d":1.500,"o":{}})");
}
