#include "sidecar/ingest/line_splitter.hpp"

#include <catch2/catch.hpp>

using namespace sidecar;
using Kind = LineSplitter::Kind;

namespace {

// Everything the splitter yields for the input fed so far: lines, or "<too long>".
std::vector<std::string> drain(LineSplitter& s) {
  std::vector<std::string> out;
  for (auto item = s.next(); item.kind != Kind::kNone; item = s.next()) {
    out.push_back(item.kind == Kind::kLine ? std::string(item.line) : "<too long>");
  }
  return out;
}

}  // namespace

TEST_CASE("many lines in one read") {
  LineSplitter s(100);
  s.append("a\nbb\r\nccc\n");
  CHECK(drain(s) == std::vector<std::string>{"a", "bb", "ccc"});
  CHECK(s.buffered() == 0);
}

TEST_CASE("a line split over many reads") {
  LineSplitter s(100);
  s.append("{\"top");
  CHECK(drain(s).empty());
  s.append("ic\":");
  CHECK(drain(s).empty());
  s.append("1}\n{\"next");
  CHECK(drain(s) == std::vector<std::string>{"{\"topic\":1}"});
  s.append("\"}\n");
  CHECK(drain(s) == std::vector<std::string>{"{\"next\"}"});
}

TEST_CASE("a CR split from its LF is still stripped") {
  LineSplitter s(100);
  s.append("abc\r");
  CHECK(drain(s).empty());
  s.append("\n");
  CHECK(drain(s) == std::vector<std::string>{"abc"});
}

TEST_CASE("a too-long line is reported once, skipped, and the next line works") {
  LineSplitter s(10);
  s.append("0123456789ABCDEF");  // overflows before its end arrives
  CHECK(drain(s) == std::vector<std::string>{"<too long>"});
  s.append(std::string(5000, 'x'));  // still the same line: not held, not reported again
  CHECK(drain(s).empty());
  CHECK(s.buffered() == 0);
  s.append("tail\nok\n");
  CHECK(drain(s) == std::vector<std::string>{"ok"});
}

TEST_CASE("a too-long line that arrives whole is reported and skipped") {
  LineSplitter s(10);
  s.append("short\n" + std::string(11, 'y') + "\nafter\n");
  CHECK(drain(s) == std::vector<std::string>{"short", "<too long>", "after"});
}

TEST_CASE("a line of exactly the limit is accepted") {
  LineSplitter s(10);
  s.append(std::string(10, 'z') + "\n");
  CHECK(drain(s) == std::vector<std::string>{std::string(10, 'z')});
}

TEST_CASE("the buffer holds at most one partial line") {
  LineSplitter s(1000);
  for (int i = 0; i < 1000; ++i) {
    s.append("line\n");
    drain(s);
  }
  s.append("partial");
  drain(s);
  CHECK(s.buffered() == 7);
}

TEST_CASE("a line of exactly the limit whose CR and LF arrive apart is accepted") {
  LineSplitter s(10);
  s.append(std::string(10, 'z') + "\r");
  CHECK(drain(s).empty());
  s.append("\n");
  CHECK(drain(s) == std::vector<std::string>{std::string(10, 'z')});
}
