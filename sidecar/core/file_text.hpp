// Whole small files read at startup or reload (the config, key and secret files).
#pragma once

#include <optional>
#include <string>

namespace sidecar {

// The content of the file at `path`; nullopt with `error` set to the system's reason ("No such
// file or directory", "Permission denied", "Is a directory") when it cannot be read.
std::optional<std::string> read_file_text(const std::string& path, std::string& error);

}  // namespace sidecar
