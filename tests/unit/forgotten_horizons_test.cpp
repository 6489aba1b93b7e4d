#include "sidecar/hub/forgotten_horizons.hpp"

#include <catch2/catch.hpp>
#include <string>

using namespace sidecar;

TEST_CASE("forgotten horizons: never below what a topic lost; shared only by a slot") {
  ForgottenHorizons h(4096);
  for (std::uint64_t i = 0; i < 300; ++i) h.raise("user." + std::to_string(i), 1000 + i);
  for (std::uint64_t i = 0; i < 300; ++i) CHECK(h.get("user." + std::to_string(i)) >= 1000 + i);
  // Topics never forgotten mostly read 0; a few share a slot with one that was.
  int shared = 0;
  for (int i = 0; i < 1000; ++i) shared += h.get("other." + std::to_string(i)) != 0;
  CHECK(shared < 150);   // about 300/4096 of them
  h.raise("user.0", 5);  // a horizon only rises
  CHECK(h.get("user.0") >= 1000);
}

TEST_CASE("forgotten horizons: resizing either way keeps every horizon") {
  ForgottenHorizons h(ForgottenHorizons::slots_for(10));
  CHECK(h.slots() == 4096);  // the smallest table
  for (std::uint64_t i = 0; i < 2000; ++i) h.raise("t" + std::to_string(i), i + 1);
  for (std::size_t slots : {std::size_t{1} << 16, std::size_t{4096}, std::size_t{1} << 20}) {
    h.resize(slots);
    CHECK(h.slots() == slots);
    for (std::uint64_t i = 0; i < 2000; ++i) {
      INFO(slots << " t" << i);
      REQUIRE(h.get("t" + std::to_string(i)) >= i + 1);
    }
  }
  CHECK(ForgottenHorizons::slots_for(100000) == 262144);
  CHECK(ForgottenHorizons::slots_for(std::size_t{1} << 30) == std::size_t{1} << 22);
}

TEST_CASE("forgotten horizons: raise_all covers every topic") {
  ForgottenHorizons h(4096);
  h.raise("a", 50);
  h.raise_all(10);
  CHECK(h.get("a") == 50);
  CHECK(h.get("anything") == 10);
}
