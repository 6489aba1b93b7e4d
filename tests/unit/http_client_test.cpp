#include "sidecar/net/http_client.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "loopback_http.hpp"

using namespace sidecar;
using namespace std::chrono_literals;
using sidecar::test::reply;

namespace {

using Clock = std::chrono::steady_clock;

std::string request_body(evhttp_request* req) {
  evbuffer* in = evhttp_request_get_input_buffer(req);
  std::string body(evbuffer_get_length(in), '\0');
  evbuffer_copyout(in, body.data(), body.size());
  return body;
}

std::optional<std::string> request_header(evhttp_request* req, const char* name) {
  const char* value = evhttp_find_header(evhttp_request_get_input_headers(req), name);
  if (!value) return std::nullopt;
  return value;
}

// A loopback server with a handler per path; other paths are answered 404.
class TestServer {
 public:
  using Handler = std::function<void(evhttp_request*)>;

  explicit TestServer(event_base* base)
      : http_(base, [this](evhttp_request* req) { dispatch(req); }) {}

  void on(const std::string& path, Handler handler) { handlers_[path] = std::move(handler); }
  std::string url(std::string_view path_and_query) const { return http_.url(path_and_query); }
  int requests() const { return http_.requests(); }

 private:
  void dispatch(evhttp_request* req) {
    const char* path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    auto it = handlers_.find(path ? path : "");
    if (it == handlers_.end()) {
      reply(req, 404, "no handler");
    } else {
      it->second(req);
    }
  }

  std::map<std::string, Handler> handlers_;
  test::LoopbackServer http_;
};

// The event loop and server under test; clients are declared after it, so they go first.
struct Loop : test::EventLoop {
  TestServer server{base.get()};

  Loop() {
    server.on("/echo", [](evhttp_request* req) {
      const char* query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
      reply(req, 200, query ? query : "");
    });
    server.on("/hang", [](evhttp_request*) {});  // never answers
  }

  HttpResult call(HttpClient& client, HttpCall call) {
    std::optional<HttpResult> result;
    client.start(std::move(call), [&](HttpResult r) { result = std::move(r); });
    REQUIRE(run_until([&] { return result.has_value(); }));
    return *result;
  }
};

HttpCall get(std::string url) {
  HttpCall call;
  call.url = std::move(url);
  return call;
}

}  // namespace

TEST_CASE("GET forwards headers and returns the body", "[http_client]") {
  Loop loop;
  std::optional<std::string> token, empty, method;
  loop.server.on("/hello", [&](evhttp_request* req) {
    method = evhttp_request_get_command(req) == EVHTTP_REQ_GET ? "GET" : "other";
    token = request_header(req, "X-Token");
    empty = request_header(req, "X-Empty");
    reply(req, 200, "hello");
  });
  HttpClient client(loop.base.get());
  HttpCall call = get(loop.server.url("/hello"));
  call.headers = {{"X-Token", "abc 123"}, {"X-Empty", ""}};

  bool ran = false;
  std::optional<HttpResult> result;
  client.start(call, [&](HttpResult r) {
    ran = true;
    result = std::move(r);
  });
  CHECK_FALSE(ran);  // never before start() returns
  CHECK(client.in_flight() == 1);
  REQUIRE(loop.run_until([&] { return ran; }));

  CHECK(method == "GET");
  CHECK(token == "abc 123");
  CHECK(empty == "");
  CHECK(result->status == 200);
  CHECK(result->body == "hello");
  CHECK(result->error.empty());
  CHECK_FALSE(result->timed_out);
  CHECK(client.in_flight() == 0);
}

TEST_CASE("POST sends its body", "[http_client]") {
  Loop loop;
  std::optional<std::string> body, content_type;
  bool was_post = false;
  loop.server.on("/post", [&](evhttp_request* req) {
    was_post = evhttp_request_get_command(req) == EVHTTP_REQ_POST;
    body = request_body(req);
    content_type = request_header(req, "Content-Type");
    reply(req, 201, "created");
  });
  HttpClient client(loop.base.get());
  HttpCall call = get(loop.server.url("/post"));
  call.method = "POST";
  call.headers = {{"Content-Type", "application/json"}};
  // Large enough that curl would ask for "100 Continue" unless told not to.
  call.body = "{\"k\":\"" + std::string(100 * 1024, 'x') + "\"}";

  const auto started = Clock::now();
  HttpResult result = loop.call(client, call);
  CHECK(Clock::now() - started < 900ms);
  CHECK(was_post);
  CHECK(body == call.body);
  CHECK(content_type == "application/json");
  CHECK(result.status == 201);
  CHECK(result.body == "created");
  CHECK(result.error.empty());
}

TEST_CASE("error statuses pass through with their body", "[http_client]") {
  Loop loop;
  loop.server.on("/denied", [](evhttp_request* req) { reply(req, 401, "denied"); });
  loop.server.on("/broken", [](evhttp_request* req) { reply(req, 500, "boom"); });
  HttpClient client(loop.base.get());

  HttpResult denied = loop.call(client, get(loop.server.url("/denied")));
  CHECK(denied.status == 401);
  CHECK(denied.body == "denied");
  CHECK(denied.error.empty());

  HttpResult broken = loop.call(client, get(loop.server.url("/broken")));
  CHECK(broken.status == 500);
  CHECK(broken.body == "boom");
  CHECK(broken.error.empty());
}

TEST_CASE("a server that never answers times out without blocking the loop", "[http_client]") {
  Loop loop;
  HttpClient client(loop.base.get());
  int ticks = 0;
  EventPtr ticker(event_new(
      loop.base.get(), -1, EV_PERSIST,
      [](evutil_socket_t, short, void* count) { ++*static_cast<int*>(count); }, &ticks));
  timeval every{0, 20000};
  event_add(ticker.get(), &every);

  HttpCall call = get(loop.server.url("/hang"));
  call.timeout = 200ms;
  std::optional<HttpResult> result;
  int ticks_when_done = 0;
  const auto started = Clock::now();
  Clock::duration took{};
  client.start(call, [&](HttpResult r) {
    result = std::move(r);
    ticks_when_done = ticks;
    took = Clock::now() - started;
  });
  REQUIRE(loop.run_until([&] { return result.has_value(); }));

  CHECK(result->timed_out);
  CHECK(result->error == "timed out");
  CHECK(result->status == 0);
  CHECK(result->body.empty());
  CHECK(took >= 190ms);
  CHECK(took < 2s);
  CHECK(ticks_when_done >= 5);  // the loop kept running other events meanwhile
  CHECK(loop.server.requests() == 1);

  // A status line followed by a body that stalls is a timeout too, not a 401.
  loop.server.on("/stall", [](evhttp_request* req) {
    evhttp_send_reply_start(req, 401, "Unauthorized");
    EvBufferPtr chunk(evbuffer_new());
    evbuffer_add(chunk.get(), "{\"rea", 5);
    evhttp_send_reply_chunk(req, chunk.get());
  });
  call.url = loop.server.url("/stall");
  HttpResult stalled = loop.call(client, call);
  CHECK(stalled.timed_out);
  CHECK(stalled.status == 0);
  CHECK(stalled.body.empty());
}

TEST_CASE("a refused connection fails without a status", "[http_client]") {
  Loop loop;
  test::RefusingPort closed;  // the port stays ours while the call runs

  HttpClient client(loop.base.get());
  HttpResult result = loop.call(client, get(closed.url("/")));
  CHECK(result.status == 0);
  CHECK(result.error == "connection refused");
  CHECK_FALSE(result.timed_out);
}

TEST_CASE("responses larger than the limit fail", "[http_client]") {
  Loop loop;
  const std::string big(10000, 'b');
  loop.server.on("/big", [&](evhttp_request* req) { reply(req, 200, big); });
  loop.server.on("/big-chunked", [&](evhttp_request* req) {
    // No Content-Length, so only the bytes themselves can tell.
    evhttp_send_reply_start(req, 200, "OK");
    for (int i = 0; i < 10; ++i) {
      EvBufferPtr chunk(evbuffer_new());
      evbuffer_add(chunk.get(), big.data(), 1000);
      evhttp_send_reply_chunk(req, chunk.get());
    }
    evhttp_send_reply_end(req);
  });
  HttpClient client(loop.base.get());

  for (const char* path : {"/big", "/big-chunked"}) {
    INFO(path);
    HttpCall call = get(loop.server.url(path));
    call.max_response_bytes = 9999;
    HttpResult result = loop.call(client, call);
    CHECK(result.error == "response too large");
    CHECK(result.status == 0);  // the status line arrived, but not a whole response
    CHECK(result.body.empty());
    CHECK_FALSE(result.timed_out);

    call.max_response_bytes = 10000;  // exactly the limit is fine
    result = loop.call(client, call);
    CHECK(result.error.empty());
    CHECK(result.body == big);
  }
}

TEST_CASE("calls that cannot start fail through their callback, later", "[http_client]") {
  Loop loop;
  HttpClient client(loop.base.get());
  std::vector<std::string> errors;
  auto record = [&](HttpResult r) {
    CHECK(r.status == 0);
    errors.push_back(r.error);
  };

  HttpCall put = get(loop.server.url("/echo"));
  put.method = "PUT";
  client.start(put, record);
  HttpCall injected = get(loop.server.url("/echo"));
  injected.headers = {{"X-A", "1\r\nX-Injected: 1"}};
  client.start(injected, record);
  client.start(get("ftp://127.0.0.1/file"), record);
  CHECK(errors.empty());
  CHECK(client.in_flight() == 3);

  REQUIRE(loop.run_until([&] { return errors.size() == 3; }));
  CHECK(errors[0] == "unsupported method");
  CHECK(errors[1] == "invalid header");
  CHECK_FALSE(errors[2].empty());
  CHECK(errors[2].find('\n') == std::string::npos);
  CHECK(loop.server.requests() == 0);
  CHECK(client.in_flight() == 0);
}

TEST_CASE("cancel() prevents the callback", "[http_client]") {
  Loop loop;
  HttpClient client(loop.base.get());
  int callbacks = 0;
  auto count = [&](HttpResult) { ++callbacks; };

  // Before the loop ever ran, and once the server holds the request.
  HttpClient::Id early = client.start(get(loop.server.url("/echo")), count);
  client.cancel(early);
  HttpClient::Id waiting = client.start(get(loop.server.url("/hang")), count);
  REQUIRE(loop.run_until([&] { return loop.server.requests() == 1; }));
  client.cancel(waiting);
  client.cancel(waiting);  // finished ids and unknown ids are no-ops
  client.cancel(12345);
  CHECK(client.in_flight() == 0);

  loop.run_for(200ms);
  CHECK(callbacks == 0);
  CHECK(loop.server.requests() == 1);

  // The client keeps working after cancellations.
  HttpResult result = loop.call(client, get(loop.server.url("/echo?after=cancel")));
  CHECK(result.body == "after=cancel");
}

TEST_CASE("a callback may start and cancel calls", "[http_client]") {
  Loop loop;
  HttpClient client(loop.base.get());
  bool hung_ran = false, second_ran = false;
  std::optional<HttpResult> followup;

  HttpClient::Id hung =
      client.start(get(loop.server.url("/hang")), [&](HttpResult) { hung_ran = true; });
  client.start(get(loop.server.url("/echo?first")), [&](HttpResult) {
    client.cancel(hung);
    client.start(get(loop.server.url("/echo?followup")),
                 [&](HttpResult r) { followup = std::move(r); });
  });
  REQUIRE(loop.run_until([&] { return followup.has_value(); }));
  CHECK(followup->body == "followup");
  CHECK_FALSE(hung_ran);

  // Two failures delivered in one batch: the first cancels the second.
  HttpCall bad = get(loop.server.url("/echo"));
  bad.method = "DELETE";
  HttpClient::Id second = 0;
  bool first_ran = false;
  client.start(bad, [&](HttpResult) {
    first_ran = true;
    client.cancel(second);
  });
  second = client.start(bad, [&](HttpResult) { second_ran = true; });
  REQUIRE(loop.run_until([&] { return first_ran; }));
  loop.run_for(50ms);
  CHECK_FALSE(second_ran);
  CHECK(client.in_flight() == 0);
}

TEST_CASE("destroying the client abandons calls in flight", "[http_client]") {
  Loop loop;
  auto client = std::make_unique<HttpClient>(loop.base.get());
  int callbacks = 0;
  auto count = [&](HttpResult) { ++callbacks; };
  for (int i = 0; i < 5; ++i) client->start(get(loop.server.url("/hang")), count);
  REQUIRE(loop.run_until([&] { return loop.server.requests() == 5; }));
  client->start(get(loop.server.url("/echo")), count);  // not yet connected
  HttpCall bad = get(loop.server.url("/echo"));
  bad.method = "PATCH";
  client->start(bad, count);  // failure not yet delivered
  CHECK(client->in_flight() == 7);

  client.reset();
  loop.run_for(100ms);
  CHECK(callbacks == 0);
}

TEST_CASE("a callback may destroy the client", "[http_client]") {
  Loop loop;
  auto client = std::make_unique<HttpClient>(loop.base.get());
  bool destroyed = false, other_ran = false;
  client->start(get(loop.server.url("/hang")), [&](HttpResult) { other_ran = true; });
  client->start(get(loop.server.url("/echo")), [&](HttpResult) {
    client.reset();
    destroyed = true;
  });
  REQUIRE(loop.run_until([&] { return destroyed; }));
  loop.run_for(50ms);
  CHECK_FALSE(other_ran);
}

TEST_CASE("50 concurrent calls all complete", "[http_client]") {
  Loop loop;
  HttpClient client(loop.base.get());
  constexpr int kCalls = 50;
  std::vector<std::optional<HttpResult>> results(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    client.start(get(loop.server.url("/echo?n=" + std::to_string(i))),
                 [&results, i](HttpResult r) { results[i] = std::move(r); });
  }
  CHECK(client.in_flight() == kCalls);
  int done = 0;
  REQUIRE(loop.run_until([&] {
    done = 0;
    for (const auto& r : results) done += r.has_value();
    return done == kCalls;
  }));
  for (int i = 0; i < kCalls; ++i) {
    INFO(i);
    CHECK(results[i]->status == 200);
    CHECK(results[i]->body == "n=" + std::to_string(i));
  }
  CHECK(client.in_flight() == 0);
}
