#include "sidecar/hub/state_file.hpp"

#include <fcntl.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sidecar/core/crypto.hpp"
#include "sidecar/core/json_writer.hpp"
#include "sidecar/core/topic.hpp"
#include "sidecar/core/wall_clock.hpp"
#include "sidecar/net/libevent.hpp"

namespace sidecar {
namespace {

constexpr std::string_view kMagic = "sse-sidecar-state";
constexpr int kVersion = 1;

std::string encode(const SavedState& state) {
  rapidjson::StringBuffer json;
  JsonWriter w(json);
  auto now = Event::Clock::now();
  w.StartObject();
  w.Key("epoch");
  w.Uint64(state.epoch);
  w.Key("last_seq");
  w.Uint64(state.last_seq);
  w.Key("written_ms");
  w.Uint64(unix_ms());
  w.Key("forgotten_seq");
  w.Uint64(state.history.forgotten_seq);
  w.Key("horizons");
  w.StartArray();
  for (const auto& h : state.history.horizons) {
    w.StartArray();
    write_string(w, h.topic);
    w.Uint64(h.evicted_seq);
    w.EndArray();
  }
  w.EndArray();
  w.Key("events");
  w.StartArray();
  for (const auto& e : state.history.events) {
    w.StartObject();
    w.Key("seq");
    w.Uint64(e->id().seq);
    w.Key("topics");
    w.StartArray();
    for (const auto& t : e->topics()) write_string(w, t);
    w.EndArray();
    w.Key("age_ms");
    w.Uint64(static_cast<std::uint64_t>(std::max<std::int64_t>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(now - e->published()).count())));
    w.Key("frame");
    write_string(w, e->plain());
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return json.GetString();
}

std::string errno_text(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// The checks of one field; each failure names what is wrong, for the operator's log.
struct Check {
  std::string error;
  bool fail(std::string why) {
    if (error.empty()) error = std::move(why);
    return false;
  }
};

const rapidjson::Value* member(const rapidjson::Value& obj, const char* name) {
  auto it = obj.FindMember(name);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

bool read_u64(const rapidjson::Value& obj, const char* name, std::uint64_t& out, Check& check) {
  const auto* v = member(obj, name);
  if (!v || !v->IsUint64())
    return check.fail(std::string("'") + name + "' missing or not a number");
  out = v->GetUint64();
  return true;
}

bool decode(const rapidjson::Value& doc, SavedState& state, Check& check) {
  if (!doc.IsObject()) return check.fail("not a JSON object");
  std::uint64_t written = 0;
  if (!read_u64(doc, "epoch", state.epoch, check) ||
      !read_u64(doc, "last_seq", state.last_seq, check) ||
      !read_u64(doc, "written_ms", written, check) ||
      !read_u64(doc, "forgotten_seq", state.history.forgotten_seq, check)) {
    return false;
  }
  if (state.epoch == 0) return check.fail("epoch is 0");
  const auto* horizons = member(doc, "horizons");
  const auto* events = member(doc, "events");
  if (!horizons || !horizons->IsArray() || !events || !events->IsArray()) {
    return check.fail("'horizons' or 'events' missing or not a list");
  }
  for (const auto& h : horizons->GetArray()) {
    if (!h.IsArray() || h.Size() != 2 || !h[0].IsString() || !h[1].IsUint64() ||
        !topic_error(h[0].GetString()).empty() || h[1].GetUint64() > state.last_seq) {
      return check.fail("a horizon is not [topic, seq]");
    }
    state.history.horizons.push_back({h[0].GetString(), h[1].GetUint64()});
  }
  // Time spent stopped counts toward history.max_age, as if the events had stayed in memory.
  std::uint64_t now_wall = unix_ms();
  std::uint64_t downtime = now_wall > written ? now_wall - written : 0;
  auto now = Event::Clock::now();
  std::uint64_t previous = 0;
  for (const auto& e : events->GetArray()) {
    std::uint64_t seq = 0;
    std::uint64_t age = 0;
    if (!e.IsObject() || !read_u64(e, "seq", seq, check) || !read_u64(e, "age_ms", age, check)) {
      return check.fail("an event is not an object with seq and age_ms");
    }
    if (seq <= previous || seq > state.last_seq) {
      return check.fail("event " + std::to_string(seq) + " is out of order");
    }
    previous = seq;
    const auto* topics = member(e, "topics");
    const auto* frame = member(e, "frame");
    if (!topics || !topics->IsArray() || topics->Empty() || !frame || !frame->IsString()) {
      return check.fail("event " + std::to_string(seq) + " lacks topics or frame");
    }
    std::vector<std::string> names;
    for (const auto& t : topics->GetArray()) {
      if (!t.IsString() || !topic_error(t.GetString()).empty()) {
        return check.fail("event " + std::to_string(seq) + " has an invalid topic");
      }
      names.emplace_back(t.GetString(), t.GetStringLength());
    }
    EventId id{state.epoch, seq};
    std::string_view bytes(frame->GetString(), frame->GetStringLength());
    // The frame must be this event's own: it carries its id and ends like an SSE event.
    if (bytes.find("id: " + id.to_string() + "\n") == std::string_view::npos ||
        !bytes.ends_with("\n\n")) {
      return check.fail("event " + std::to_string(seq) + " has a frame of another event");
    }
    auto published = now - std::chrono::milliseconds(age + downtime);
    state.history.events.push_back(Event::restore(id, std::move(names), bytes, published));
  }
  return true;
}

}  // namespace

bool write_state_file(const std::string& path, const SavedState& state, std::string& error) {
  std::string body = encode(state);
  std::string text = std::string(kMagic) + " " + std::to_string(kVersion) + " " +
                     to_hex(sha256(body)) + "\n" + body;
  std::string tmp = path + ".tmp";
  std::error_code ec;
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  // A leftover temporary (an interrupted stop, or a file planted there) is removed, not reused:
  // reopening it would keep its mode, or follow it if it is a symlink. O_EXCL makes the file
  // this process creates the only one it writes, with mode 0600.
  ::unlink(tmp.c_str());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) {
    error = errno_text("cannot create " + tmp);
    return false;
  }
  if (!write_all(fd.get(), text) || ::fsync(fd.get()) != 0) {
    error = errno_text("cannot write " + tmp);
    ::unlink(tmp.c_str());
    return false;
  }
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    error = errno_text("cannot rename " + tmp + " to " + path);
    ::unlink(tmp.c_str());
    return false;
  }
  // The rename itself reaches the disk only with the directory.
  UniqueFd dir(::open(parent.empty() ? "." : parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir) ::fsync(dir.get());
  return true;
}

StateLoad read_state_file(const std::string& path) {
  StateLoad load;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec) && !ec) return load;  // a first start
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    load.result = StateLoad::Result::kRejected;
    load.error = errno_text("cannot read");
    return load;
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  load.result = StateLoad::Result::kRejected;
  auto newline = text.find('\n');
  std::string_view header = std::string_view(text).substr(0, newline);
  std::string prefix = std::string(kMagic) + " ";
  if (newline == std::string::npos || !header.starts_with(prefix)) {
    load.error = "not an sse-sidecar state file";
    return load;
  }
  header.remove_prefix(prefix.size());
  auto space = header.find(' ');
  if (space == std::string_view::npos || header.substr(0, space) != std::to_string(kVersion)) {
    load.error = "state file version '" + std::string(header.substr(0, space)) +
                 "' is not supported (expected " + std::to_string(kVersion) + ")";
    return load;
  }
  std::string_view body = std::string_view(text).substr(newline + 1);
  if (header.substr(space + 1) != to_hex(sha256(body))) {
    load.error = "checksum mismatch: the file is damaged or truncated";
    return load;
  }
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError()) {
    load.error = std::string("invalid JSON at offset ") + std::to_string(doc.GetErrorOffset()) +
                 ": " + rapidjson::GetParseError_En(doc.GetParseError());
    return load;
  }
  SavedState state;
  Check check;
  if (!decode(doc, state, check)) {
    load.error = check.error;
    return load;
  }
  load.result = StateLoad::Result::kLoaded;
  load.state = std::move(state);
  return load;
}

}  // namespace sidecar
