#include "sidecar/sse/sse_notice.hpp"

#include <optional>

#include "sidecar/core/json_writer.hpp"
#include "sidecar/sse/sse_format.hpp"

namespace sidecar {

std::string sse_retry_frame(std::chrono::milliseconds delay) {
  return "retry: " + std::to_string(delay.count()) + "\n\n";
}

std::string sse_notice_frame(std::string_view name, std::string_view reason) {
  rapidjson::StringBuffer json;
  JsonWriter w(json);
  w.StartObject();
  w.Key("reason");
  write_string(w, reason);
  w.EndObject();
  return "event: " + std::string(name) + "\ndata: " + json.GetString() + "\n\n";
}

std::string sse_missed_frame(std::string_view newest_id, std::string_view last_event_id) {
  rapidjson::StringBuffer json;
  JsonWriter w(json);
  w.StartObject();
  w.Key("last_event_id");
  write_string(w, last_event_id);
  w.Key("reason");
  w.String("events after this id are no longer available; refresh your state");
  w.EndObject();
  std::string frame;
  append_sse_event(frame, newest_id, "sidecar.missed", json.GetString(), std::nullopt);
  return frame;
}

}  // namespace sidecar
