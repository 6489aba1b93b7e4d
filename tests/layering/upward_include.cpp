// Built on purpose against the core layer alone: core must not see the hub's headers, so this
// fails to compile. The `layering_upward` test checks that it does, and why.
#include "sidecar/hub/hub.hpp"

int layering_upward_probe() {
  return 0;
}
