#include "sidecar/stream/stream_params.hpp"

#include <catch2/catch.hpp>

using namespace sidecar;

namespace {

struct Parsed {
  bool ok;
  StreamParams params;
  std::string error;
};

Parsed parse(const std::string& target, const Config& config = Config{},
             const std::string& headers = "") {
  HttpRequest req;
  std::string error;
  std::size_t consumed = 0;
  std::string head = "GET " + target + " HTTP/1.1\r\n" + headers + "\r\n";
  REQUIRE(parse_http_request(head, 8192, req, error, consumed) == HttpParse::kDone);
  Parsed out{};
  out.ok = parse_stream_params(req, config, out.params, out.error);
  return out;
}

std::vector<std::string> texts(const std::vector<TopicPattern>& topics) {
  std::vector<std::string> out;
  for (const auto& t : topics) out.push_back(t.text());
  return out;
}

}  // namespace

TEST_CASE("topics, resume id and token come from the query") {
  auto p = parse("/events?topic=a&topic=b.c&last_event_id=1-2&access_token=t%20k&cachebust=9");
  REQUIRE(p.ok);
  CHECK(texts(p.params.topics) == std::vector<std::string>{"a", "b.c"});
  CHECK(p.params.last_event_id == "1-2");
  CHECK(p.params.access_token == "t k");
}

TEST_CASE("the Last-Event-ID header wins over the parameter") {
  auto p = parse("/events?topic=a&last_event_id=1-2", Config{}, "Last-Event-ID: 1-5\r\n");
  REQUIRE(p.ok);
  CHECK(p.params.last_event_id == "1-5");
}

TEST_CASE("topic parameters are validated") {
  CHECK_THAT(parse("/events").error, Catch::StartsWith("at least one topic"));
  CHECK_THAT(parse("/events?topic=a%20b").error, Catch::StartsWith("invalid topic"));
  CHECK_THAT(parse("/events?topic=").error, Catch::StartsWith("invalid topic"));
  Config c;
  c.limits.max_topics_per_stream = 2;
  CHECK(parse("/events?topic=a&topic=b", c).ok);
  CHECK_THAT(parse("/events?topic=a&topic=b&topic=c", c).error,
             Catch::StartsWith("too many topics"));
  c.stream.allow_patterns = false;
  CHECK_THAT(parse("/events?topic=a.*", c).error,
             Catch::StartsWith("topic patterns are not allowed"));
}

TEST_CASE("overlapping subscriptions are normalised to one entry per topic") {
  auto p = parse("/events?topic=a.x&topic=a.*&topic=b&topic=b&topic=a.y.*&topic=c");
  REQUIRE(p.ok);
  CHECK(texts(p.params.topics) == std::vector<std::string>{"a.*", "b", "c"});
  auto all = parse("/events?topic=x&topic=*&topic=y.*");
  CHECK(texts(all.params.topics) == std::vector<std::string>{"*"});
}

TEST_CASE("since=latest and last=N ask for the newest events of each topic") {
  CHECK(parse("/events?topic=a").params.latest == 0);
  CHECK(parse("/events?topic=a&since=latest").params.latest == 1);
  CHECK(parse("/events?topic=a&last=25").params.latest == 25);
  Config config;
  config.history.max_events = 50;
  CHECK(parse("/events?topic=a&last=50", config).ok);
  auto over = parse("/events?topic=a&last=51", config);
  CHECK_FALSE(over.ok);
  CHECK(over.error == "last must be a whole number from 1 to 50 (history.max_events), got '51'");
  for (const char* bad : {"0", "-1", "x", "1.5", "", "99999999999"}) {
    auto p = parse(std::string("/events?topic=a&last=") + bad);
    CHECK_FALSE(p.ok);
    CHECK(p.error.starts_with("last must be a whole number from 1 to "));
  }
  auto since = parse("/events?topic=a&since=yesterday");
  CHECK_FALSE(since.ok);
  CHECK(since.error.starts_with("since must be 'latest'"));
  auto both = parse("/events?topic=a&since=latest&last=2");
  CHECK_FALSE(both.ok);
  CHECK(both.error == "give either since=latest or last=N, not both");
}
