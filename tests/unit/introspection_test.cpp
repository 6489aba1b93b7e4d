#include "sidecar/admin/introspection.hpp"

#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <string>

using namespace sidecar;

TEST_CASE("GET /topics parameters: defaults, values, and a reason for each mistake") {
  TopicsRequest r;
  CHECK(parse_topics_request({}, r).empty());
  CHECK(r.prefix.empty());
  CHECK(r.limit == kTopicsDefaultLimit);
  CHECK(parse_topics_request({{"prefix", "chat."}, {"limit", "5"}}, r).empty());
  CHECK(r.prefix == "chat.");
  CHECK(r.limit == 5);

  TopicsRequest bad;
  CHECK(parse_topics_request({{"limit", "0"}}, bad) ==
        "limit= must be a whole number from 1 to 10000");
  CHECK(parse_topics_request({{"limit", "10001"}}, bad) ==
        "limit= must be a whole number from 1 to 10000");
  CHECK(parse_topics_request({{"limit", "12x"}}, bad) ==
        "limit= must be a whole number from 1 to 10000");
  CHECK(parse_topics_request({{"limit", ""}}, bad) ==
        "limit= must be a whole number from 1 to 10000");
  CHECK(parse_topics_request({{"prefix", "a b"}}, bad) ==
        "prefix= may hold only what topics hold: letters, digits and . _ - : @ =");
  CHECK(parse_topics_request({{"prefix", std::string(201, 'a')}}, bad) ==
        "prefix= is longer than a topic (200 bytes)");
  CHECK(parse_topics_request({{"limit", "1"}, {"limit", "2"}}, bad) == "limit= is given twice");
  CHECK(parse_topics_request({{"topic", "a"}}, bad) ==
        "unknown parameter 'topic': GET /topics takes prefix=, limit=");
}

TEST_CASE("GET /streams parameters") {
  StreamFilter f;
  CHECK(parse_streams_request({{"topic", "chat.*"}, {"subject", "alice"}, {"peer", "::1"}}, f)
            .empty());
  REQUIRE(f.topic);
  CHECK(f.topic->text() == "chat.*");
  CHECK(f.subject == "alice");
  CHECK(f.peer == "::1");
  CHECK(f.limit == kStreamsDefaultLimit);

  StreamFilter bad;
  CHECK(parse_streams_request({{"subject", ""}}, bad) ==
        "subject= is empty: give a value, or leave it out");
  CHECK(parse_streams_request({{"topic", "a..b"}}, bad)
            .starts_with("topic= is not a topic or a pattern: "));
  CHECK(parse_streams_request({{"prefix", "a"}}, bad) ==
        "unknown parameter 'prefix': GET /streams takes topic=, subject=, peer=, limit=");
}

TEST_CASE("the answers are JSON with their totals and pages") {
  TopicsRequest request{"a", 2};
  TopicListing topics;
  topics.total = 3;
  TopicFigures one;
  one.topic = "a.x";
  one.subscribers = 2;
  one.history_events = 4;
  one.history_bytes = 100;
  one.publish_rate = 1.0 / 3.0;
  topics.topics.push_back(one);
  rapidjson::Document t;
  t.Parse(topics_json(request, topics, "memory").c_str());
  REQUIRE(t.IsObject());
  CHECK(std::string(t["engine"].GetString()) == "memory");
  CHECK(t["total"].GetUint64() == 3);
  CHECK(t["truncated"].GetBool() == true);
  CHECK(std::string(t["topics"][0u]["topic"].GetString()) == "a.x");
  CHECK(t["topics"][0u]["local_subscribers"].GetUint64() == 2);
  CHECK(t["topics"][0u]["last_publish_ms"].IsNull());
  CHECK(t["topics"][0u]["publish_rate"].GetDouble() == Approx(0.333));

  StreamFilter filter;
  StreamListing streams;
  streams.total = 1;
  StreamSummary s;
  s.worker = 1;
  s.serial = 9;
  s.peer = "127.0.0.1";
  s.auth = "anonymous";
  s.topics = {"public.x"};
  s.protocol = "h1";
  s.age_ms = 1500;
  streams.streams.push_back(s);
  rapidjson::Document j;
  j.Parse(streams_json(filter, streams).c_str());
  REQUIRE(j.IsObject());
  CHECK(j["truncated"].GetBool() == false);
  const auto& first = j["streams"][0u];
  CHECK(std::string(first["id"].GetString()) == "1-9");
  CHECK_FALSE(first.HasMember("subject"));  // anonymous
  CHECK(first["age_s"].GetDouble() == Approx(1.5));
  CHECK(std::string(first["protocol"].GetString()) == "h1");
}
