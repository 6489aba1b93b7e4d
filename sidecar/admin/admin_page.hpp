// GET /admin: the admin page, web/admin.html compiled into the binary (sidecar_embed in the top
// CMakeLists.txt), so the daemon serves it without a data directory. One self-contained file:
// its styles and script are inline and it loads nothing from elsewhere.
#pragma once

#include <string_view>

namespace sidecar::embedded {

extern const std::string_view kAdminPage;

}  // namespace sidecar::embedded
