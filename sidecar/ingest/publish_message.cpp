#include "sidecar/ingest/publish_message.hpp"

#include <rapidjson/error/en.h>

#include <algorithm>

#include "sidecar/core/json_writer.hpp"
#include "sidecar/core/topic.hpp"
#include "sidecar/sse/sse_format.hpp"

namespace sidecar {
namespace {

PublishMessage fail(IngestError kind, std::string error, PublishMessage&& m) {
  m.ok = false;
  m.kind = kind;
  m.error = std::move(error);
  return std::move(m);
}

std::string to_json(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  value.Accept(writer);
  return {buffer.GetString(), buffer.GetSize()};
}

std::string add_topic(EventDraft& draft, std::string_view topic) {
  if (auto reason = topic_error(topic); !reason.empty()) {
    return "invalid topic '" + std::string(topic.substr(0, 64)) + "': " + reason;
  }
  if (std::find(draft.topics.begin(), draft.topics.end(), topic) == draft.topics.end()) {
    if (draft.topics.size() == kMaxTopicsPerEvent) {
      return "too many topics (at most " + std::to_string(kMaxTopicsPerEvent) + " per event)";
    }
    draft.topics.emplace_back(topic);
  }
  return {};
}

std::string check_name(std::string_view name) {
  if (name.size() > kMaxEventNameBytes) return "event name is longer than 256 bytes";
  if (!is_safe_field_value(name)) return "event name must not contain CR, LF or NUL";
  if (name.starts_with("sidecar.")) return "event names starting with 'sidecar.' are reserved";
  return {};
}

std::string check_size(const EventDraft& d, std::size_t max_event_bytes) {
  if (d.data.size() + d.name.size() > max_event_bytes) {
    return "event is larger than max_event_bytes (" + std::to_string(max_event_bytes) + ")";
  }
  return {};
}

}  // namespace

PublishMessage parse_publish_value(const rapidjson::Value& value, std::size_t max_event_bytes) {
  PublishMessage m;
  if (!value.IsObject())
    return fail(IngestError::kMalformed, "a message must be a JSON object", std::move(m));
  if (auto ref = value.FindMember("ref"); ref != value.MemberEnd()) m.ref = to_json(ref->value);
  EventDraft& d = m.draft;
  for (const auto& member : value.GetObject()) {
    std::string_view key(member.name.GetString(), member.name.GetStringLength());
    const auto& v = member.value;
    if (key == "topic") {
      if (!v.IsString())
        return fail(IngestError::kMalformed, "'topic' must be a string", std::move(m));
      if (auto e = add_topic(d, {v.GetString(), v.GetStringLength()}); !e.empty()) {
        return fail(IngestError::kInvalid, e, std::move(m));
      }
    } else if (key == "topics") {
      if (!v.IsArray())
        return fail(IngestError::kMalformed, "'topics' must be an array of strings", std::move(m));
      for (const auto& t : v.GetArray()) {
        if (!t.IsString())
          return fail(IngestError::kMalformed, "'topics' must be an array of strings",
                      std::move(m));
        if (auto e = add_topic(d, {t.GetString(), t.GetStringLength()}); !e.empty()) {
          return fail(IngestError::kInvalid, e, std::move(m));
        }
      }
    } else if (key == "event") {
      if (!v.IsString())
        return fail(IngestError::kMalformed, "'event' must be a string", std::move(m));
      d.name.assign(v.GetString(), v.GetStringLength());
      if (auto e = check_name(d.name); !e.empty())
        return fail(IngestError::kInvalid, e, std::move(m));
    } else if (key == "data") {
      // Strings are sent as they are; any other JSON value as its compact JSON text.
      if (v.IsString())
        d.data.assign(v.GetString(), v.GetStringLength());
      else
        d.data = to_json(v);
    } else if (key == "retry") {
      if (!v.IsUint() || v.GetUint() > 86400000) {
        return fail(IngestError::kInvalid, "'retry' must be milliseconds between 0 and 86400000",
                    std::move(m));
      }
      d.retry = v.GetUint();
    } else if (key == "idempotency_key") {
      std::string_view k =
          v.IsString() ? std::string_view(v.GetString(), v.GetStringLength()) : std::string_view();
      bool printable = std::all_of(k.begin(), k.end(), [](char c) {
        return static_cast<unsigned char>(c) > 0x20 && c != 0x7f;
      });
      if (k.empty() || k.size() > kMaxIdempotencyKeyBytes || !printable) {
        return fail(IngestError::kInvalid,
                    "'idempotency_key' must be a string of 1 to " +
                        std::to_string(kMaxIdempotencyKeyBytes) +
                        " printable characters without spaces",
                    std::move(m));
      }
      d.idempotency_key = std::string(k);
    } else if (key == "ref") {
      // Already taken above, so errors can echo it too.
    } else if (key == "replies") {
      return fail(IngestError::kMalformed,
                  "'replies' is a control line of the publish socket and goes alone on its line, "
                  "as {\"replies\":\"none\"}",
                  std::move(m));
    } else if (key == "id") {
      return fail(IngestError::kInvalid,
                  "'id' is assigned by the sidecar; use 'ref' to correlate replies", std::move(m));
    } else {
      return fail(IngestError::kMalformed, "unknown field '" + std::string(key.substr(0, 64)) + "'",
                  std::move(m));
    }
  }
  if (d.topics.empty())
    return fail(IngestError::kInvalid, "a message needs 'topic' or 'topics'", std::move(m));
  if (auto e = check_size(d, max_event_bytes); !e.empty())
    return fail(IngestError::kTooLarge, e, std::move(m));
  m.ok = true;
  return m;
}

PublishMessage parse_publish_line(std::string_view line, std::size_t max_event_bytes) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(line.data(), line.size());
  if (doc.HasParseError()) {
    PublishMessage m;
    return fail(IngestError::kMalformed,
                std::string("invalid JSON at offset ") + std::to_string(doc.GetErrorOffset()) +
                    ": " + rapidjson::GetParseError_En(doc.GetParseError()),
                std::move(m));
  }
  // A control line is an object with "replies" as its only key, so no message can be taken for
  // one by mistake (a message has a topic).
  if (doc.IsObject() && doc.MemberCount() == 1 &&
      std::string_view(doc.MemberBegin()->name.GetString(),
                       doc.MemberBegin()->name.GetStringLength()) == "replies") {
    PublishMessage m;
    const auto& v = doc.MemberBegin()->value;
    if (v.IsString()) m.replies = parse_reply_mode({v.GetString(), v.GetStringLength()});
    if (!m.replies) {
      return fail(IngestError::kInvalid, "'replies' must be \"all\", \"errors\" or \"none\"",
                  std::move(m));
    }
    m.ok = true;
    return m;
  }
  return parse_publish_value(doc, max_event_bytes);
}

PublishMessage make_raw_publish(std::string_view topic, std::string_view event, std::string data,
                                std::size_t max_event_bytes) {
  PublishMessage m;
  if (auto e = add_topic(m.draft, topic); !e.empty())
    return fail(IngestError::kInvalid, e, std::move(m));
  if (auto e = check_name(event); !e.empty()) return fail(IngestError::kInvalid, e, std::move(m));
  m.draft.name = event;
  m.draft.data = std::move(data);
  if (auto e = check_size(m.draft, max_event_bytes); !e.empty())
    return fail(IngestError::kTooLarge, e, std::move(m));
  m.ok = true;
  return m;
}

namespace {

void write_ref(JsonWriter& w, std::string_view ref) {
  if (ref.empty()) return;
  w.Key("ref");
  w.RawValue(ref.data(), ref.size(), rapidjson::kObjectType);
}

}  // namespace

std::string publish_ok_reply(std::string_view id, std::size_t subscribers, std::string_view ref,
                             bool duplicate) {
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  w.Key("ok");
  w.Bool(true);
  w.Key("id");
  write_string(w, id);
  w.Key("subscribers");
  w.Uint64(subscribers);
  if (duplicate) {
    w.Key("duplicate");
    w.Bool(true);
  }
  write_ref(w, ref);
  w.EndObject();
  return {buffer.GetString(), buffer.GetSize()};
}

std::string publish_control_reply(ReplyMode mode) {
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  w.Key("ok");
  w.Bool(true);
  w.Key("replies");
  write_string(w, to_string(mode));
  w.EndObject();
  return {buffer.GetString(), buffer.GetSize()};
}

std::string publish_error_reply(std::string_view error, std::string_view ref) {
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  w.Key("ok");
  w.Bool(false);
  w.Key("error");
  write_string(w, error);
  write_ref(w, ref);
  w.EndObject();
  return {buffer.GetString(), buffer.GetSize()};
}

}  // namespace sidecar
