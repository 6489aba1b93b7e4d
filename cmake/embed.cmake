# Turns the file IN into OUT, a C++ source defining `const std::string_view
# sidecar::embedded::SYMBOL` with its bytes (run by sidecar_embed() in the top CMakeLists.txt).
# Bytes, not a raw string literal: any content is safe, whatever delimiters it holds.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" hex_length)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${hex}")
string(REGEX REPLACE "(('\\\\x[0-9a-f][0-9a-f]',){16})" "\\1\n    " bytes "${bytes}")
math(EXPR length "${hex_length} / 2")
file(WRITE "${OUT}.tmp" "// Generated from ${IN} by cmake/embed.cmake: do not edit.
#include <string_view>

namespace sidecar::embedded {
namespace {
constexpr char kBytes[] = {
    ${bytes}'\\0'};
}  // namespace
extern const std::string_view ${SYMBOL};
const std::string_view ${SYMBOL}(kBytes, ${length});
}  // namespace sidecar::embedded
")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
