#include "sidecar/app/input_lines.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace sidecar;
using Kind = InputLines::Kind;

namespace {

// Everything yielded so far: "N:line" for a whole line, "N+piece" for a piece, "N+piece$" for
// the piece that ends its line.
std::vector<std::string> drain(InputLines& in) {
  std::vector<std::string> out;
  for (auto item = in.next(); item.kind != Kind::kNone; item = in.next()) {
    std::string text = std::to_string(item.number);
    text += item.kind == Kind::kLine ? ":" : "+";
    text += item.bytes;
    if (item.kind == Kind::kPiece && item.ends) text += "$";
    out.push_back(text);
  }
  return out;
}

using Lines = std::vector<std::string>;

}  // namespace

TEST_CASE("input lines come whole, numbered, blank ones included, CR kept") {
  InputLines in(100);
  in.append("a\n\nbb\r\n");
  CHECK(drain(in) == Lines{"1:a", "2:", "3:bb\r"});
  CHECK(in.drained());
}

TEST_CASE("an input line split over reads waits for its end") {
  InputLines in(100);
  in.append("{\"top");
  CHECK(drain(in).empty());
  CHECK(in.drained());
  in.append("ic\":1}\n{\"x\"");
  CHECK(drain(in) == Lines{"1:{\"topic\":1}"});
  in.append("}\n");
  CHECK(drain(in) == Lines{"2:{\"x\"}"});
}

TEST_CASE("the last input line needs no LF") {
  InputLines in(100);
  in.append("a\nlast");
  CHECK(drain(in) == Lines{"1:a"});
  CHECK(in.drained());
  in.finish();
  CHECK_FALSE(in.drained());
  CHECK(drain(in) == Lines{"2:last"});
  CHECK(in.drained());
  CHECK(drain(in).empty());
}

TEST_CASE("input that ends with LF has no empty last line") {
  InputLines in(100);
  in.append("a\n");
  in.finish();
  CHECK(drain(in) == Lines{"1:a"});
  CHECK(in.drained());
}

TEST_CASE("a line longer than held is passed on in pieces as it comes") {
  InputLines in(4);
  in.append("abcdef");
  CHECK(drain(in) == Lines{"1+abcdef"});
  CHECK(in.buffered() == 0);
  in.append("gh");
  CHECK(drain(in) == Lines{"1+gh"});
  in.append("i\nnext\n");
  CHECK(drain(in) == Lines{"1+i$", "2:next"});
}

TEST_CASE("a long line cut by the end of input ends with its last piece") {
  InputLines in(4);
  in.append("abcdefg");
  CHECK(drain(in) == Lines{"1+abcdefg"});
  in.finish();
  CHECK(drain(in) == Lines{"1+$"});
  CHECK(in.drained());
}

TEST_CASE("a line of exactly the held size is still whole") {
  InputLines in(4);
  in.append("abcd");
  CHECK(drain(in).empty());
  in.append("\n");
  CHECK(drain(in) == Lines{"1:abcd"});
}

TEST_CASE("input held stays bounded by one partial line") {
  InputLines in(1000);
  std::string chunk;
  for (int i = 0; i < 100; ++i) chunk += "{\"topic\":\"t\"}\n";
  for (int round = 0; round < 100; ++round) {
    in.append(chunk + "{\"par");
    CHECK(drain(in).size() == (round == 0 ? 100U : 101U));
    CHECK(in.buffered() <= 16);
    in.append("t\":1}\n");
  }
}
