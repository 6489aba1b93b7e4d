// The server side of HTTP/2 against nghttp2's own client session, bytes handed across in memory:
// what a request head becomes, how a response and its body leave, and the limits the session
// sets (concurrent streams, header list size).
#include "sidecar/net/h2_connection.hpp"

#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <string>

using namespace sidecar;

namespace {

using SessionPtr = std::unique_ptr<nghttp2_session, CDeleter<nghttp2_session_del>>;

// The streams' queues, as a worker's StreamConns hold them.
struct Queues final : H2Connection::Owner {
  std::map<std::int32_t, std::string> queued;
  std::set<std::int32_t> ending;
  std::vector<std::uint32_t> resets, goaways;

  std::size_t available(std::int32_t id, bool& end) override {
    end = ending.count(id) > 0;
    return queued[id].size();
  }
  void take(std::int32_t id, char* dst, std::size_t n) override {
    REQUIRE(n <= queued[id].size());
    queued[id].copy(dst, n);
    queued[id].erase(0, n);
  }
  void sent_reset(std::uint32_t code) override { resets.push_back(code); }
  void sent_goaway(std::uint32_t code) override { goaways.push_back(code); }
};

// nghttp2's client, recording what each stream received.
struct Client {
  SessionPtr session;
  std::map<std::int32_t, HeaderList> headers;
  std::map<std::int32_t, std::string> data;
  std::map<std::int32_t, std::uint32_t> closed;  // stream -> error code

  Client() {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(
        cb, [](nghttp2_session*, const nghttp2_frame* f, const std::uint8_t* n, std::size_t nl,
               const std::uint8_t* v, std::size_t vl, std::uint8_t, void* self) {
          static_cast<Client*>(self)->headers[f->hd.stream_id].emplace_back(
              std::string(reinterpret_cast<const char*>(n), nl),
              std::string(reinterpret_cast<const char*>(v), vl));
          return 0;
        });
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        cb, [](nghttp2_session*, std::uint8_t, std::int32_t id, const std::uint8_t* d,
               std::size_t len, void* self) {
          static_cast<Client*>(self)->data[id].append(reinterpret_cast<const char*>(d), len);
          return 0;
        });
    nghttp2_session_callbacks_set_on_stream_close_callback(
        cb, [](nghttp2_session*, std::int32_t id, std::uint32_t code, void* self) {
          static_cast<Client*>(self)->closed[id] = code;
          return 0;
        });
    nghttp2_session* s = nullptr;
    nghttp2_session_client_new(&s, cb, this);
    nghttp2_session_callbacks_del(cb);
    session.reset(s);
    nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, nullptr, 0);
  }

  std::int32_t get(const std::string& path, HeaderList extra = {}, bool end_stream = true) {
    HeaderList fields = {
        {":method", "GET"}, {":scheme", "https"}, {":authority", "localhost"}, {":path", path}};
    fields.insert(fields.end(), extra.begin(), extra.end());
    std::vector<nghttp2_nv> nva;
    for (auto& [n, v] : fields) {
      nva.push_back({reinterpret_cast<std::uint8_t*>(n.data()),
                     reinterpret_cast<std::uint8_t*>(v.data()), n.size(), v.size(),
                     NGHTTP2_NV_FLAG_NONE});
    }
    std::int32_t flags = end_stream ? NGHTTP2_FLAG_END_STREAM : NGHTTP2_FLAG_NONE;
    return nghttp2_submit_headers(session.get(), static_cast<std::uint8_t>(flags), -1, nullptr,
                                  nva.data(), nva.size(), nullptr);
  }

  std::string output() {
    std::string out;
    const std::uint8_t* chunk = nullptr;
    for (ssize_t n; (n = nghttp2_session_mem_send(session.get(), &chunk)) > 0;) {
      out.append(reinterpret_cast<const char*>(chunk), static_cast<std::size_t>(n));
    }
    return out;
  }
  void input(const std::string& bytes) {
    REQUIRE(nghttp2_session_mem_recv(session.get(),
                                     reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                     bytes.size()) == static_cast<ssize_t>(bytes.size()));
  }
};

// Hands bytes back and forth until neither side has any; returns the server's events.
std::vector<H2Event> exchange(Client& client, H2Connection& server) {
  std::vector<H2Event> events;
  for (int round = 0; round < 20; ++round) {
    std::string up = client.output();
    if (!up.empty()) REQUIRE(server.receive(up.data(), up.size()));
    std::string down;
    REQUIRE(server.produce(down, 1 << 20));
    for (auto& e : server.take_events()) events.push_back(std::move(e));
    if (up.empty() && down.empty()) break;
    client.input(down);
  }
  return events;
}

std::vector<H2Request> requests(std::vector<H2Event>& events) {
  std::vector<H2Request> out;
  for (auto& e : events) {
    if (auto* r = std::get_if<H2Request>(&e)) out.push_back(std::move(*r));
  }
  return out;
}

}  // namespace

TEST_CASE("h2: a request head reads as the HTTP/1 parser's", "[h2_connection]") {
  Queues queues;
  auto server = H2Connection::create(H2Settings{}, queues);
  REQUIRE(server);
  Client client;
  std::int32_t id = client.get("/events?topic=a&topic=b",
                               {{"last-event-id", "1-2"}, {"cookie", "a=1"}, {"cookie", "b=2"}});
  auto events = exchange(client, *server);
  auto got = requests(events);
  REQUIRE(got.size() == 1);
  const H2Request& r = got[0];
  CHECK(r.stream_id == id);
  CHECK(r.result == HttpParse::kDone);
  CHECK_FALSE(r.has_body);
  CHECK(r.request.method == "GET");
  CHECK(r.request.target == "/events?topic=a&topic=b");
  CHECK(r.request.path() == "/events");
  CHECK(r.request.header("host") == "localhost");
  CHECK(r.request.header("last-event-id") == "1-2");
  CHECK(r.request.header("cookie") == "a=1; b=2");  // RFC 9113 8.2.3
}

TEST_CASE("h2: a response's body comes from the stream's queue, deferred while it is empty",
          "[h2_connection]") {
  Queues queues;
  auto server = H2Connection::create(H2Settings{}, queues);
  Client client;
  std::int32_t id = client.get("/events?topic=a");
  exchange(client, *server);
  REQUIRE(server->respond(id, 200,
                          {{"Content-Type", "text/event-stream"},
                           {"Connection", "close"},
                           {"Transfer-Encoding", "chunked"}},
                          true));
  exchange(client, *server);
  CHECK(client.headers[id] ==
        HeaderList{{":status", "200"}, {"content-type", "text/event-stream"}});
  CHECK(client.data[id].empty());
  CHECK(client.closed.count(id) == 0);  // deferred: open, with nothing to send

  queues.queued[id] = "retry: 3000\n\n";
  server->resume(id);
  exchange(client, *server);
  CHECK(client.data[id] == "retry: 3000\n\n");
  CHECK(queues.queued[id].empty());

  queues.queued[id] = "data: last\n\n";
  queues.ending.insert(id);
  server->resume(id);
  auto events = exchange(client, *server);
  CHECK(client.data[id] == "retry: 3000\n\ndata: last\n\n");
  REQUIRE(client.closed.count(id) == 1);
  CHECK(client.closed[id] == NGHTTP2_NO_ERROR);
  REQUIRE(events.size() == 1);
  CHECK(std::get<H2Closed>(events[0]).stream_id == id);
}

TEST_CASE("h2: a response without a body ends with its headers", "[h2_connection]") {
  Queues queues;
  auto server = H2Connection::create(H2Settings{}, queues);
  Client client;
  std::int32_t id = client.get("/events");
  exchange(client, *server);
  REQUIRE(server->respond(id, 204, {{"Access-Control-Allow-Origin", "*"}}, false));
  exchange(client, *server);
  CHECK(client.headers[id] == HeaderList{{":status", "204"}, {"access-control-allow-origin", "*"}});
  CHECK(client.closed.count(id) == 1);
}

TEST_CASE("h2: heads past the header list bound, bad targets and bodies are told apart",
          "[h2_connection]") {
  Queues queues;
  H2Settings settings;
  settings.max_header_list_bytes = 1024;
  auto server = H2Connection::create(settings, queues);
  Client client;
  client.get("/events?topic=a", {{"x-big", std::string(2000, 'b')}});
  client.get("/events?topic=a", {}, false);
  auto events = exchange(client, *server);
  auto got = requests(events);
  REQUIRE(got.size() == 2);
  CHECK(got[0].result == HttpParse::kTooLarge);
  CHECK(got[0].error == "request headers too large");
  CHECK(got[1].result == HttpParse::kDone);
  CHECK(got[1].has_body);
}

TEST_CASE("h2: streams past max_concurrent_streams are refused", "[h2_connection]") {
  Queues queues;
  H2Settings settings;
  settings.max_concurrent_streams = 2;
  auto server = H2Connection::create(settings, queues);
  Client client;
  // All three before the server's SETTINGS reach the client, which would otherwise hold the
  // third back itself.
  client.get("/events?topic=a");
  client.get("/events?topic=b");
  std::int32_t third = client.get("/events?topic=c");
  auto events = exchange(client, *server);
  CHECK(requests(events).size() == 2);
  CHECK(queues.resets == std::vector<std::uint32_t>{NGHTTP2_REFUSED_STREAM});
  CHECK(client.closed[third] == NGHTTP2_REFUSED_STREAM);
}

TEST_CASE("h2: a stream reset before its request was taken costs nothing", "[h2_connection]") {
  Queues queues;
  auto server = H2Connection::create(H2Settings{}, queues);
  Client client;
  std::int32_t id = client.get("/events?topic=a");
  nghttp2_submit_rst_stream(client.session.get(), NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
  auto events = exchange(client, *server);
  CHECK(events.empty());
}

TEST_CASE("h2: go_away sends GOAWAY and the connection finishes", "[h2_connection]") {
  Queues queues;
  auto server = H2Connection::create(H2Settings{}, queues);
  Client client;
  exchange(client, *server);
  CHECK_FALSE(server->finished());
  server->go_away();
  exchange(client, *server);
  CHECK(queues.goaways == std::vector<std::uint32_t>{NGHTTP2_NO_ERROR});
  CHECK(server->finished());
}

TEST_CASE("h2: bytes that are not HTTP/2 end the connection", "[h2_connection]") {
  Queues queues;
  auto server = H2Connection::create(H2Settings{}, queues);
  std::string garbage = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  CHECK_FALSE(server->receive(garbage.data(), garbage.size()));
  CHECK_FALSE(server->error().empty());
}
