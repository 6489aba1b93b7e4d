#include "sidecar/core/file_text.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <string>

using namespace sidecar;

TEST_CASE("a file is read whole, bytes as they are") {
  std::string path = (std::filesystem::temp_directory_path() / "file_text_test.XXXXXX").string();
  int fd = ::mkstemp(path.data());
  REQUIRE(fd >= 0);
  std::string content(40000, 'x');  // more than one read
  content += std::string("\0\r\n", 3);
  bool written =
      ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
  ::close(fd);
  std::string error;
  auto text = read_file_text(path, error);
  std::remove(path.c_str());
  REQUIRE(written);
  REQUIRE(text);
  CHECK(*text == content);
}

TEST_CASE("an unreadable path says why") {
  std::string error;
  CHECK_FALSE(read_file_text("/nonexistent/file", error));
  CHECK(error == "No such file or directory");
  CHECK_FALSE(read_file_text(SIDECAR_SOURCE_DIR, error));
  CHECK(error == "Is a directory");
}
