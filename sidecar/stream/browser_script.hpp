// The browser helper `sidecar.js` (web/sidecar.js, compiled into the binary), which the stream
// listener serves at /sidecar.js: public code, so any page may import it as a cross-origin
// module (CORS `*`), and cacheable, with an ETag that revalidates to 304.
#pragma once

#include <string>
#include <string_view>
#include <variant>

#include "sidecar/net/http_request.hpp"
#include "sidecar/stream/http_response.hpp"
#include "sidecar/stream/stream_request.hpp"

namespace sidecar {
namespace embedded {
// Defined by the build (sidecar_embed in CMakeLists.txt): the bytes of web/sidecar.js.
extern const std::string_view kSidecarJs;
}  // namespace embedded

inline constexpr std::string_view kBrowserScriptPath = "/sidecar.js";

// The script's entity tag: a quoted digest of its bytes, the same for every run of one build.
const std::string& browser_script_etag();

// Whether an If-None-Match value ("*", or a list of tags, weak or strong) names `etag`.
bool if_none_match_hits(std::string_view header, std::string_view etag);

// The answer to a request for /sidecar.js: the script (GET), its head alone (HEAD), 304 when
// the client's copy is current, or 405 for another method.
std::variant<Answer, Served> serve_browser_script(const HttpRequest& request);

}  // namespace sidecar
