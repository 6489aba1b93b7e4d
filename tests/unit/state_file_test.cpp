#include "sidecar/hub/state_file.hpp"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sidecar/core/crypto.hpp"
#include "sidecar/core/wall_clock.hpp"

using namespace sidecar;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t kEpoch = 1700000000123;

// A fresh directory under the system's temporary directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "state_file_test.XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_bytes(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  REQUIRE(out);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out);
}

// A state file with a correct header around `body`, as the daemon would write it.
void write_with_header(const std::string& path, std::string_view body) {
  write_bytes(path, "sse-sidecar-state 1 " + to_hex(sha256(body)) + "\n" + std::string(body));
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

EventRef event(std::uint64_t seq, std::vector<std::string> topics, std::string data,
               std::string name = "", std::optional<std::uint32_t> retry = std::nullopt,
               std::chrono::milliseconds age = 0ms) {
  return Event::create(EventId{kEpoch, seq},
                       EventDraft{std::move(topics), std::move(name), std::move(data), retry},
                       Event::Clock::now() - age);
}

SavedState sample_state() {
  SavedState s;
  s.epoch = kEpoch;
  s.last_seq = 9;
  s.history.forgotten_seq = 1;
  s.history.horizons = {{"chat.room1", 2}, {"quiet", 4}};
  s.history.events = {
      event(3, {"chat.room1"}, "first", "", std::nullopt, 5000ms),
      event(5, {"chat.room1", "chat.room2"}, "line 1\nline \"2\"\t\\", "message.new", 2500),
      event(8, {"user.u42"}, std::string("nul\0byte \xc3\xa9 \xff", 13)),
  };
  return s;
}

std::string written_sample(const TempDir& dir) {
  std::string path = dir.file("state");
  std::string error;
  REQUIRE(write_state_file(path, sample_state(), error));
  CHECK(error.empty());
  return path;
}

// A valid body for the fields given, with every other field as the daemon writes it.
std::string body(const std::string& events, const std::string& horizons = "[]",
                 std::uint64_t last_seq = 9, std::uint64_t written_ms = unix_ms()) {
  return "{\"epoch\":" + std::to_string(kEpoch) + ",\"last_seq\":" + std::to_string(last_seq) +
         ",\"written_ms\":" + std::to_string(written_ms) +
         ",\"forgotten_seq\":0,\"horizons\":" + horizons + ",\"events\":" + events + "}";
}

std::string event_json(std::uint64_t seq, const std::string& topics = "[\"a\"]",
                       std::uint64_t age_ms = 0) {
  std::string frame = "id: " + EventId{kEpoch, seq}.to_string() + "\\ndata: x\\n\\n";
  return "{\"seq\":" + std::to_string(seq) + ",\"topics\":" + topics +
         ",\"age_ms\":" + std::to_string(age_ms) + ",\"frame\":\"" + frame + "\"}";
}

StateLoad load_body(const TempDir& dir, const std::string& text) {
  std::string path = dir.file("state");
  write_with_header(path, text);
  return read_state_file(path);
}

}  // namespace

TEST_CASE("state file round trip: ids, horizons and every event as it was", "[state_file]") {
  TempDir dir;
  std::string path = written_sample(dir);
  SavedState original = sample_state();

  StateLoad load = read_state_file(path);
  INFO(load.error);
  REQUIRE(load.result == StateLoad::Result::kLoaded);
  CHECK(load.error.empty());
  REQUIRE(load.state);
  const SavedState& s = *load.state;
  CHECK(s.epoch == kEpoch);
  CHECK(s.last_seq == 9);
  CHECK(s.history.forgotten_seq == 1);
  REQUIRE(s.history.horizons.size() == 2);
  CHECK(s.history.horizons[0].topic == "chat.room1");
  CHECK(s.history.horizons[0].evicted_seq == 2);
  CHECK(s.history.horizons[1].topic == "quiet");
  CHECK(s.history.horizons[1].evicted_seq == 4);
  REQUIRE(s.history.events.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    const EventRef& got = s.history.events[i];
    const EventRef& want = original.history.events[i];
    INFO("event " << i);
    CHECK(got->id() == want->id());
    CHECK(got->topics() == want->topics());
    CHECK(got->plain() == want->plain());  // byte for byte: escapes, NUL and UTF-8 included
    CHECK(got->chunked() == want->chunked());
  }
  // Publish times keep their age (the first was 5 s old when saved).
  auto age = Event::Clock::now() - s.history.events[0]->published();
  CHECK(age >= 5000ms);
  CHECK(age < 7000ms);
  CHECK(Event::Clock::now() - s.history.events[2]->published() < 2000ms);
  // Reading does not consume the file; removing it is the caller's choice.
  CHECK(fs::exists(path));
}

TEST_CASE("state file format: magic, version and the SHA-256 of the JSON body", "[state_file]") {
  TempDir dir;
  std::string text = read_bytes(written_sample(dir));
  auto newline = text.find('\n');
  REQUIRE(newline != std::string::npos);
  std::string header = text.substr(0, newline);
  std::string rest = text.substr(newline + 1);
  CHECK(header == "sse-sidecar-state 1 " + to_hex(sha256(rest)));
  CHECK(header.size() == std::string("sse-sidecar-state 1 ").size() + 64);
  CHECK(rest.front() == '{');
  CHECK(rest.back() == '}');
  CHECK(rest.find("\"epoch\":1700000000123") != std::string::npos);
  CHECK(rest.find("\"last_seq\":9") != std::string::npos);
  CHECK(rest.find("\"horizons\":[[\"chat.room1\",2],[\"quiet\",4]]") != std::string::npos);
}

TEST_CASE("an empty history and an unused sequence round-trip too", "[state_file]") {
  TempDir dir;
  std::string path = dir.file("state");
  SavedState empty;
  empty.epoch = kEpoch;
  std::string error;
  REQUIRE(write_state_file(path, empty, error));
  StateLoad load = read_state_file(path);
  REQUIRE(load.result == StateLoad::Result::kLoaded);
  CHECK(load.state->epoch == kEpoch);
  CHECK(load.state->last_seq == 0);
  CHECK(load.state->history.events.empty());
  CHECK(load.state->history.horizons.empty());
}

TEST_CASE("the state file is private (0600) whatever the umask, and no temporary remains",
          "[state_file]") {
  TempDir dir;
  std::string path = dir.file("state");
  mode_t previous = ::umask(0);  // the mode must come from the daemon, not the umask
  std::string error;
  bool written = write_state_file(path, sample_state(), error);
  ::umask(previous);
  REQUIRE(written);
  CHECK(mode_of(path) == 0600);
  CHECK_FALSE(fs::exists(path + ".tmp"));
}

TEST_CASE("writing replaces an earlier file, and the new one is private", "[state_file]") {
  TempDir dir;
  std::string path = dir.file("state");
  write_bytes(path, "an older file readable by all\n");
  REQUIRE(::chmod(path.c_str(), 0644) == 0);
  SavedState next;
  next.epoch = kEpoch + 1;
  next.last_seq = 77;
  std::string error;
  REQUIRE(write_state_file(path, next, error));
  CHECK(mode_of(path) == 0600);
  StateLoad load = read_state_file(path);
  REQUIRE(load.result == StateLoad::Result::kLoaded);
  CHECK(load.state->epoch == kEpoch + 1);
  CHECK(load.state->last_seq == 77);
}

// A temporary file left behind (an interrupted stop, or someone else's file) must not lend the
// state file its mode: open(O_CREAT) applies 0600 only to a file it creates, so the writer
// removes the leftover and creates its own with O_EXCL.
TEST_CASE("a leftover temporary file does not make the state file readable by others",
          "[state_file]") {
  TempDir dir;
  std::string path = dir.file("state");
  write_bytes(path + ".tmp", "half a file from an earlier stop");
  REQUIRE(::chmod((path + ".tmp").c_str(), 0644) == 0);
  std::string error;
  REQUIRE(write_state_file(path, sample_state(), error));
  CHECK(mode_of(path) == 0600);
  CHECK(read_state_file(path).result == StateLoad::Result::kLoaded);
}

TEST_CASE("missing directories of the path are created", "[state_file]") {
  TempDir dir;
  std::string path = dir.file("var/lib/sse-sidecar/state");
  std::string error;
  REQUIRE(write_state_file(path, sample_state(), error));
  CHECK(read_state_file(path).result == StateLoad::Result::kLoaded);
}

TEST_CASE("a state file that cannot be written is reported with the temporary's path",
          "[state_file]") {
  TempDir dir;
  std::string blocker = dir.file("not-a-directory");
  write_bytes(blocker, "x");
  std::string path = blocker + "/state";
  std::string error;
  CHECK_FALSE(write_state_file(path, sample_state(), error));
  CHECK(error == "cannot create " + path + ".tmp: Not a directory");
  CHECK(read_bytes(blocker) == "x");
}

TEST_CASE("no state file is a first start, not an error", "[state_file]") {
  TempDir dir;
  StateLoad load = read_state_file(dir.file("never-written"));
  CHECK(load.result == StateLoad::Result::kMissing);
  CHECK_FALSE(load.state);
  CHECK(load.error.empty());
}

TEST_CASE("damaged or foreign files are rejected with a reason and left as they are",
          "[state_file]") {
  TempDir dir;
  const std::string good = read_bytes(written_sample(dir));
  const auto newline = good.find('\n');
  std::string flipped = good;
  flipped[newline + 10] ^= 0x01;  // one bit inside the JSON body
  std::string bad_hash = good;
  bad_hash[newline - 1] = bad_hash[newline - 1] == '0' ? '1' : '0';

  struct Row {
    const char* what;
    std::string bytes;
    std::string error;
  };
  const std::string checksum = "checksum mismatch: the file is damaged or truncated";
  const Row rows[] = {
      {"empty", "", "not an sse-sidecar state file"},
      {"no newline", "sse-sidecar-state 1 abc", "not an sse-sidecar state file"},
      {"other magic", "other-state 1 x\n{}", "not an sse-sidecar state file"},
      {"magic without space", "sse-sidecar-state\n{}", "not an sse-sidecar state file"},
      {"version 2", "sse-sidecar-state 2 " + good.substr(20),
       "state file version '2' is not supported (expected 1)"},
      {"version 10", "sse-sidecar-state 10 " + good.substr(20),
       "state file version '10' is not supported (expected 1)"},
      {"flipped bit", flipped, checksum},
      {"wrong checksum", bad_hash, checksum},
      {"truncated", good.substr(0, good.size() - 10), checksum},
      {"cut after the header", good.substr(0, newline + 1), checksum},
      {"appended bytes", good + "\n", checksum},
  };
  for (const Row& row : rows) {
    INFO(row.what);
    std::string path = dir.file("state");
    write_bytes(path, row.bytes);
    StateLoad load = read_state_file(path);
    CHECK(load.result == StateLoad::Result::kRejected);
    CHECK(load.error == row.error);
    CHECK_FALSE(load.state);
    // The file is not touched: setting it aside is up to the caller.
    CHECK(read_bytes(path) == row.bytes);
  }
  // A header that ends after the version has no checksum to match.
  std::string path = dir.file("state");
  write_bytes(path, "sse-sidecar-state 1\n{}");
  StateLoad load = read_state_file(path);
  CHECK(load.result == StateLoad::Result::kRejected);
  CHECK_FALSE(load.error.empty());
}

TEST_CASE("a body with a correct checksum is still checked field by field", "[state_file]") {
  TempDir dir;
  struct Row {
    const char* what;
    std::string body;
    std::string error;
  };
  const Row rows[] = {
      {"not JSON", "{\"epoch\":", "invalid JSON at offset 9: Invalid value."},
      {"not an object", "[1,2]", "not a JSON object"},
      {"no epoch",
       "{\"last_seq\":1,\"written_ms\":1,\"forgotten_seq\":0,\"horizons\":[],\"events\":[]}",
       "'epoch' missing or not a number"},
      {"negative last_seq",
       "{\"epoch\":5,\"last_seq\":-1,\"written_ms\":1,\"forgotten_seq\":0,\"horizons\":[],"
       "\"events\":[]}",
       "'last_seq' missing or not a number"},
      {"epoch 0",
       "{\"epoch\":0,\"last_seq\":1,\"written_ms\":1,\"forgotten_seq\":0,\"horizons\":[],"
       "\"events\":[]}",
       "epoch is 0"},
      {"events not a list", body("{}"), "'horizons' or 'events' missing or not a list"},
      {"horizon not a pair", body("[]", "[[\"a\"]]"), "a horizon is not [topic, seq]"},
      {"horizon with an invalid topic", body("[]", "[[\"a b\",1]]"),
       "a horizon is not [topic, seq]"},
      {"horizon beyond last_seq", body("[]", "[[\"a\",10]]"), "a horizon is not [topic, seq]"},
      {"event without seq", body("[{\"topics\":[\"a\"],\"age_ms\":0,\"frame\":\"x\"}]"),
       "'seq' missing or not a number"},
      {"events out of order", body("[" + event_json(5) + "," + event_json(3) + "]"),
       "event 3 is out of order"},
      {"an event twice", body("[" + event_json(5) + "," + event_json(5) + "]"),
       "event 5 is out of order"},
      {"event seq 0", body("[" + event_json(0) + "]"), "event 0 is out of order"},
      {"event beyond last_seq", body("[" + event_json(10) + "]"), "event 10 is out of order"},
      {"event without topics", body("[" + event_json(2, "[]") + "]"),
       "event 2 lacks topics or frame"},
      {"event with an invalid topic", body("[" + event_json(2, "[\"a\",\"b..c\"]") + "]"),
       "event 2 has an invalid topic"},
      {"frame of another event",
       body("[{\"seq\":2,\"topics\":[\"a\"],\"age_ms\":0,\"frame\":\"id: " +
            EventId{kEpoch, 3}.to_string() + "\\ndata: x\\n\\n\"}]"),
       "event 2 has a frame of another event"},
      {"frame of another epoch",
       body("[{\"seq\":2,\"topics\":[\"a\"],\"age_ms\":0,\"frame\":\"id: 1-2\\ndata: x\\n\\n\"}]"),
       "event 2 has a frame of another event"},
      {"unfinished frame",
       body("[{\"seq\":2,\"topics\":[\"a\"],\"age_ms\":0,\"frame\":\"id: " +
            EventId{kEpoch, 2}.to_string() + "\\ndata: x\\n\"}]"),
       "event 2 has a frame of another event"},
  };
  for (const Row& row : rows) {
    INFO(row.what);
    StateLoad load = load_body(dir, row.body);
    CHECK(load.result == StateLoad::Result::kRejected);
    CHECK(load.error == row.error);
    CHECK_FALSE(load.state);
  }
  // The same helpers make a file that is accepted, so each row fails for its own reason.
  StateLoad ok =
      load_body(dir, body("[" + event_json(2) + "," + event_json(9) + "]", "[[\"a\",1]]"));
  INFO(ok.error);
  CHECK(ok.result == StateLoad::Result::kLoaded);
}

TEST_CASE("time spent stopped counts toward the events' age", "[state_file]") {
  TempDir dir;
  const std::uint64_t an_hour_ago = unix_ms() - 3600ULL * 1000;
  StateLoad load =
      load_body(dir, body("[" + event_json(2, "[\"a\"]", 1000) + "]", "[]", 9, an_hour_ago));
  INFO(load.error);
  REQUIRE(load.result == StateLoad::Result::kLoaded);
  auto age = Event::Clock::now() - load.state->history.events.at(0)->published();
  CHECK(age >= 3601s);
  CHECK(age < 3605s);
  // A file from the future (a clock set back) adds no age.
  StateLoad future =
      load_body(dir, body("[" + event_json(2, "[\"a\"]", 1000) + "]", "[]", 9, unix_ms() + 60000));
  REQUIRE(future.result == StateLoad::Result::kLoaded);
  auto future_age = Event::Clock::now() - future.state->history.events.at(0)->published();
  CHECK(future_age >= 1000ms);
  CHECK(future_age < 3000ms);
}
