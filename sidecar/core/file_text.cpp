#include "sidecar/core/file_text.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "sidecar/core/c_deleter.hpp"

namespace sidecar {

std::optional<std::string> read_file_text(const std::string& path, std::string& error) {
  // stdio rather than a stream: a directory opens, and only the read's errno says EISDIR.
  std::unique_ptr<std::FILE, CDeleter<std::fclose>> file(std::fopen(path.c_str(), "rbe"));
  if (!file) {
    error = std::strerror(errno);
    return std::nullopt;
  }
  std::string text;
  char chunk[16384];
  std::size_t n = 0;
  while ((n = std::fread(chunk, 1, sizeof(chunk), file.get())) > 0) text.append(chunk, n);
  if (std::ferror(file.get())) {
    error = std::strerror(errno);
    return std::nullopt;
  }
  return text;
}

}  // namespace sidecar
