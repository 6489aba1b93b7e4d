#include "sidecar/ingest/reply_mode.hpp"

#include <catch2/catch.hpp>

using namespace sidecar;

TEST_CASE("reply modes by name, and back") {
  for (auto mode : {ReplyMode::kAll, ReplyMode::kErrors, ReplyMode::kNone}) {
    INFO(to_string(mode));
    CHECK(parse_reply_mode(to_string(mode)) == mode);
  }
  CHECK(parse_reply_mode("all") == ReplyMode::kAll);
  CHECK(parse_reply_mode("errors") == ReplyMode::kErrors);
  CHECK(parse_reply_mode("none") == ReplyMode::kNone);
  for (const char* bad : {"", "All", "error", "none ", "ok"}) {
    INFO(bad);
    CHECK_FALSE(parse_reply_mode(bad));
  }
}

TEST_CASE("which replies each mode writes") {
  CHECK(wants_reply(ReplyMode::kAll, true));
  CHECK(wants_reply(ReplyMode::kAll, false));
  CHECK_FALSE(wants_reply(ReplyMode::kErrors, true));
  CHECK(wants_reply(ReplyMode::kErrors, false));
  CHECK_FALSE(wants_reply(ReplyMode::kNone, true));
  CHECK_FALSE(wants_reply(ReplyMode::kNone, false));
}
