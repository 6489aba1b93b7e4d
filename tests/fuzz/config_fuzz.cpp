// Configuration text: any input is either a valid Config or a list of located problems,
// never a crash or an escaped exception.
#include <cstddef>
#include <cstdint>
#include <string>

#include "sidecar/config/config_loader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto result = sidecar::load_config_text(text, "fuzz.yaml");
  if (result.config.has_value() == !result.problems.empty()) __builtin_trap();
  return 0;
}
