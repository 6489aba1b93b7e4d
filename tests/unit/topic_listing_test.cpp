#include "sidecar/hub/topic_listing.hpp"

#include <catch2/catch.hpp>

using namespace sidecar;

namespace {

std::vector<TopicFigures> page(std::initializer_list<const char*> names) {
  std::vector<TopicFigures> out;
  for (const char* n : names) {
    TopicFigures f;
    f.topic = n;
    f.history_events = 1;
    out.push_back(f);
  }
  return out;
}

std::vector<std::string> names_of(const TopicListing& l) {
  std::vector<std::string> out;
  for (const auto& t : l.topics) out.push_back(t.topic);
  return out;
}

}  // namespace

TEST_CASE("subscribed topics without history join the page in name order, each once") {
  auto l = merge_topic_pages(page({"a", "c", "e"}), 3, {"b", "c", "d"}, 2, 10);
  CHECK(names_of(l) == std::vector<std::string>{"a", "b", "c", "d", "e"});
  CHECK(l.total == 5);
  CHECK(l.topics[1].history_events == 0);  // b: subscribed only
  CHECK(l.topics[2].history_events == 1);  // c: from history
}

TEST_CASE("the page stops at its limit; the total counts every match") {
  // History holds 7 topics, its page the first 3; "aa" is subscribed only.
  auto l = merge_topic_pages(page({"a", "b", "c"}), 7, {"aa", "zz"}, 2, 3);
  CHECK(names_of(l) == std::vector<std::string>{"a", "aa", "b"});
  CHECK(l.total == 9);
}

TEST_CASE("an empty history lists the subscribed topics") {
  auto l = merge_topic_pages({}, 0, {"x", "y"}, 2, 1);
  CHECK(names_of(l) == std::vector<std::string>{"x"});
  CHECK(l.total == 2);
}
