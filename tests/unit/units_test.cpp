#include "sidecar/core/units.hpp"

#include <catch2/catch.hpp>

using namespace sidecar;
using namespace std::chrono_literals;

TEST_CASE("durations need a unit") {
  CHECK(parse_duration("500ms") == 500ms);
  CHECK(parse_duration("15s") == 15s);
  CHECK(parse_duration("10m") == 10min);
  CHECK(parse_duration("2h") == 2h);
  CHECK_FALSE(parse_duration("10"));
  CHECK_FALSE(parse_duration("s"));
  CHECK_FALSE(parse_duration("-1s"));
  CHECK_FALSE(parse_duration("1.5s"));
  CHECK_FALSE(parse_duration("99999999999999999999h"));
}

TEST_CASE("sizes in bytes or binary units") {
  CHECK(parse_size("4096") == 4096u);
  CHECK(parse_size("64KiB") == 65536u);
  CHECK(parse_size("1MiB") == 1048576u);
  CHECK(parse_size("2GiB") == 2147483648u);
  CHECK_FALSE(parse_size("1MB"));
  CHECK_FALSE(parse_size("KiB"));
  CHECK_FALSE(parse_size("99999999999999999GiB"));
}
