// Writing JSON with RapidJSON: the writer every reply, event payload and file uses, and strings
// from string_views (RapidJSON takes a pointer and a 32-bit length).
#pragma once

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string_view>

namespace sidecar {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

inline void write_string(JsonWriter& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

}  // namespace sidecar
