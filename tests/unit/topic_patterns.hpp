// Test helper: topic patterns from string literals that are known to be valid.
#pragma once

#include <initializer_list>
#include <vector>

#include "sidecar/core/topic.hpp"

namespace sidecar::test {

inline std::vector<TopicPattern> patterns(std::initializer_list<const char*> list) {
  std::vector<TopicPattern> out;
  for (const char* p : list) out.push_back(*TopicPattern::parse(p));
  return out;
}

}  // namespace sidecar::test
