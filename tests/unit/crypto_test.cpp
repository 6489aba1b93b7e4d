#include "sidecar/core/crypto.hpp"

#include <catch2/catch.hpp>

#include "sidecar/auth/token_table.hpp"

using namespace sidecar;

TEST_CASE("SHA-256 and HMAC-SHA256 known answers") {
  CHECK(to_hex(sha256("abc")) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4231 test case 2.
  CHECK(to_hex(hmac_sha256("Jefe", "what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("base64url round trip and strictness") {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\x00"}) {
    CHECK(base64url_decode(base64url_encode(s)) == s);
  }
  CHECK(base64url_encode("\xfb\xff") == "-_8");
  CHECK(base64url_decode("Zm9vYg") == std::string("foob"));
  CHECK_FALSE(base64url_decode("Zm9vYg=="));  // padding is not base64url
  CHECK_FALSE(base64url_decode("Zm9vYh"));    // leftover bits set: not the canonical form
  CHECK_FALSE(base64url_decode("Zm9v+g"));
  CHECK_FALSE(base64url_decode("Zm9v/g"));
  CHECK_FALSE(base64url_decode("Z"));
  CHECK_FALSE(base64url_decode("Zm 9v"));
}

TEST_CASE("hex round trip") {
  CHECK(from_hex(to_hex("\x01\xab")) == std::string("\x01\xab"));
  CHECK_FALSE(from_hex("abc"));
  CHECK_FALSE(from_hex("zz"));
}

TEST_CASE("token table matches plain and hashed tokens") {
  std::string hashed = "sha256:" + to_hex(sha256("second-token-0123456789"));
  TokenTable table({"first-token-0123456789", hashed});
  CHECK(table.find("first-token-0123456789") == 0u);
  CHECK(table.find("second-token-0123456789") == 1u);
  CHECK_FALSE(table.find(hashed));  // the hash itself is not the token
  CHECK_FALSE(table.find("first-token-012345678"));
  CHECK_FALSE(table.find(""));
  CHECK(TokenTable({}).empty());
}

TEST_CASE("constant-time equality") {
  CHECK(equal_constant_time("abc", "abc"));
  CHECK_FALSE(equal_constant_time("abc", "abd"));
  CHECK_FALSE(equal_constant_time("abc", "abcd"));
  CHECK(equal_constant_time("", ""));
}
