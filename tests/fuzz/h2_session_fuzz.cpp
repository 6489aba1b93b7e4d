// The client's side of an HTTP/2 connection, from the network, fed in pieces to the session glue
// (nghttp2's server session with the sidecar's settings and callbacks), with a stand-in for the
// streams' output queues. Properties besides "no crash, leak or sanitizer report": a DATA frame
// never takes more than its stream has queued, and every request head reported as whole has a
// target the HTTP/1 parser would accept too.
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "sidecar/net/h2_connection.hpp"

namespace {

struct Streams final : sidecar::H2Connection::Owner {
  std::map<std::int32_t, std::string> queued;
  std::set<std::int32_t> ending;

  std::size_t available(std::int32_t id, bool& end) override {
    auto it = queued.find(id);
    end = it != queued.end() && ending.count(id) > 0;
    return it == queued.end() ? 0 : it->second.size();
  }
  void take(std::int32_t id, char* dst, std::size_t n) override {
    auto it = queued.find(id);
    if (it == queued.end() || n > it->second.size()) __builtin_trap();
    it->second.copy(dst, n);
    it->second.erase(0, n);
  }
  void sent_reset(std::uint32_t) override {}
  void sent_goaway(std::uint32_t) override {}
};

bool valid_target(const std::string& target) {
  if (target.empty() || target.front() != '/') return false;
  for (char ch : target) {
    if (static_cast<unsigned char>(ch) <= 0x20 || ch == 0x7f) return false;
  }
  return true;
}

void handle(sidecar::H2Connection& c, Streams& streams) {
  for (auto& event : c.take_events()) {
    if (auto* closed = std::get_if<sidecar::H2Closed>(&event)) {
      streams.queued.erase(closed->stream_id);
      streams.ending.erase(closed->stream_id);
      continue;
    }
    auto& request = std::get<sidecar::H2Request>(event);
    if (request.result == sidecar::HttpParse::kDone && !valid_target(request.request.target)) {
      __builtin_trap();
    }
    // As the worker does: an event stream that stays open, or a short answer that ends.
    const bool stream = request.result == sidecar::HttpParse::kDone && !request.has_body;
    streams.queued[request.stream_id] = stream ? "retry: 3000\n\n" : "refused\n";
    if (!stream) streams.ending.insert(request.stream_id);
    c.respond(request.stream_id, stream ? 200 : 400,
              {{"Content-Type", "text/event-stream"}, {"Connection", "close"}}, true);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // The first byte picks where the rest is cut: frames split across reads, as TLS records do.
  const std::size_t piece = 1 + data[0] % 97;
  ++data;
  --size;
  Streams streams;
  auto c = sidecar::H2Connection::create(sidecar::H2Settings{}, streams);
  if (!c) return 0;
  std::string out;
  for (std::size_t at = 0; at < size; at += piece) {
    std::size_t n = std::min(piece, size - at);
    bool ok = c->receive(reinterpret_cast<const char*>(data + at), n);
    handle(*c, streams);
    // A stream that has an answer queues a little more each round, as live events would.
    for (auto& [id, bytes] : streams.queued) {
      if (!streams.ending.count(id)) {
        bytes += "data: x\n\n";
        c->resume(id);
      }
    }
    out.clear();
    if (!c->produce(out, 4096)) break;
    handle(*c, streams);
    if (!ok || c->finished()) break;
  }
  return 0;
}
