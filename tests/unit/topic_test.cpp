#include "sidecar/core/topic.hpp"

#include <catch2/catch.hpp>

using namespace sidecar;

TEST_CASE("topic syntax") {
  CHECK(topic_error("chat.room1").empty());
  CHECK(topic_error("a").empty());
  CHECK(topic_error("user:42.tasks-1_x@y=z").empty());
  CHECK_FALSE(topic_error("").empty());
  CHECK_FALSE(topic_error("a..b").empty());
  CHECK_FALSE(topic_error(".a").empty());
  CHECK_FALSE(topic_error("a.").empty());
  CHECK_FALSE(topic_error("a b").empty());
  CHECK_FALSE(topic_error("a*").empty());
  CHECK_FALSE(topic_error("a.*").empty());
  CHECK_FALSE(topic_error("a\nb").empty());
  CHECK_FALSE(topic_error(std::string(201, 'a')).empty());
  CHECK(topic_error(std::string(200, 'a')).empty());
}

TEST_CASE("exact patterns match one topic") {
  auto p = TopicPattern::parse("chat.room1");
  REQUIRE(p);
  CHECK_FALSE(p->is_wildcard());
  CHECK(p->matches("chat.room1"));
  CHECK_FALSE(p->matches("chat.room10"));
  CHECK_FALSE(p->matches("chat"));
}

TEST_CASE("prefix patterns match every topic below the prefix") {
  auto p = TopicPattern::parse("stocks.*");
  REQUIRE(p);
  CHECK(p->is_wildcard());
  CHECK(p->text() == "stocks.*");
  CHECK(p->matches("stocks.AAPL"));
  CHECK(p->matches("stocks.nyse.AAPL"));
  CHECK_FALSE(p->matches("stocks"));
  CHECK_FALSE(p->matches("stocksX.AAPL"));
  CHECK_FALSE(p->matches("other.AAPL"));
}

TEST_CASE("the lone star matches everything") {
  auto p = TopicPattern::parse("*");
  REQUIRE(p);
  CHECK(p->matches("a"));
  CHECK(p->matches("a.b.c"));
}

TEST_CASE("malformed patterns are refused with a reason") {
  std::string error;
  CHECK_FALSE(TopicPattern::parse("a.*.b", &error));
  CHECK_FALSE(error.empty());
  CHECK_FALSE(TopicPattern::parse("a*", &error));
  CHECK_FALSE(TopicPattern::parse(".*", &error));
  CHECK_FALSE(TopicPattern::parse("**", &error));
}

TEST_CASE("coverage between patterns") {
  auto pub = *TopicPattern::parse("public.*");
  CHECK(pub.covers(*TopicPattern::parse("public.demo")));
  CHECK(pub.covers(*TopicPattern::parse("public.a.*")));
  CHECK(pub.covers(*TopicPattern::parse("public.*")));
  CHECK_FALSE(pub.covers(*TopicPattern::parse("public")));
  CHECK_FALSE(pub.covers(*TopicPattern::parse("private.x")));
  CHECK_FALSE(pub.covers(*TopicPattern::parse("*")));
  auto exact = *TopicPattern::parse("a.b");
  CHECK(exact.covers(*TopicPattern::parse("a.b")));
  CHECK_FALSE(exact.covers(*TopicPattern::parse("a.b.*")));
  CHECK(TopicPattern::parse("*")->covers(pub));
}
