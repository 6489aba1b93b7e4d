#include "sidecar/app/reply_stream.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace sidecar;
using Kind = ReplyStream::Kind;

namespace {

// Records each line as "<kind>|<bytes>", and how many pieces carried its bytes.
struct Recorder : ReplyStream::Sink {
  std::vector<std::string> lines;
  std::string current;
  std::size_t pieces = 0;
  bool open = false;

  void begin(Kind kind) override {
    REQUIRE_FALSE(open);
    open = true;
    static const char* names[] = {"accepted", "refused", "replies-all", "closing", "other"};
    current = std::string(names[static_cast<int>(kind)]) + "|";
  }
  void bytes(std::string_view piece) override {
    REQUIRE(open);
    current += piece;
    ++pieces;
  }
  void end() override {
    REQUIRE(open);
    open = false;
    lines.push_back(current);
  }
};

using Lines = std::vector<std::string>;

}  // namespace

TEST_CASE("replies are told apart by their first bytes") {
  ReplyStream s;
  Recorder r;
  s.feed(
      "{\"ok\":true,\"replies\":\"all\"}\n"
      "{\"ok\":true,\"id\":\"1-1\",\"subscribers\":0}\n"
      "{\"ok\":false,\"error\":\"unknown field 'x'\"}\n"
      "{\"ok\":false,\"error\":\"closing: no reply was read\"}\n"
      "HTTP/1.1 400 Bad Request\n"
      "{\"ok\":true,\"replies\":\"all\",\"x\":1}\n",
      r);
  CHECK(r.lines == Lines{"replies-all|{\"ok\":true,\"replies\":\"all\"}",
                         "accepted|{\"ok\":true,\"id\":\"1-1\",\"subscribers\":0}",
                         "refused|{\"ok\":false,\"error\":\"unknown field 'x'\"}",
                         "closing|{\"ok\":false,\"error\":\"closing: no reply was read\"}",
                         "other|HTTP/1.1 400 Bad Request",
                         "accepted|{\"ok\":true,\"replies\":\"all\",\"x\":1}"});
  CHECK_FALSE(s.inside_line());
}

TEST_CASE("a reply split anywhere is told apart the same") {
  const std::string wire =
      "{\"ok\":false,\"error\":\"closing: bye\"}\n{\"ok\":true,\"id\":\"1-2\"}\n";
  for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
    ReplyStream s;
    Recorder r;
    s.feed(wire.substr(0, cut), r);
    s.feed(wire.substr(cut), r);
    CHECK(r.lines == Lines{"closing|{\"ok\":false,\"error\":\"closing: bye\"}",
                           "accepted|{\"ok\":true,\"id\":\"1-2\"}"});
  }
}

TEST_CASE("a long reply is passed on in pieces, never held whole") {
  ReplyStream s;
  Recorder r;
  std::string ref(100000, 'x');
  const std::string start = "{\"ok\":true,\"id\":\"1-1\",\"subscribers\":0,\"ref\":\"";
  s.feed(start, r);
  CHECK(s.inside_line());
  for (std::size_t i = 0; i < 10; ++i) s.feed(ref.substr(i * 10000, 10000), r);
  s.feed("\"}\n", r);
  REQUIRE(r.lines.size() == 1);
  CHECK(r.lines[0].starts_with("accepted|{\"ok\":true"));
  CHECK(r.lines[0] == "accepted|" + start + ref + "\"}");
  CHECK(r.pieces >= 12);
}

TEST_CASE("a short line that is no reply is told apart at its end") {
  ReplyStream s;
  Recorder r;
  s.feed("{\"ok\"", r);
  CHECK(r.lines.empty());
  CHECK(s.inside_line());
  s.feed("}\n\n", r);
  CHECK(r.lines == Lines{"other|{\"ok\"}", "other|"});
}
