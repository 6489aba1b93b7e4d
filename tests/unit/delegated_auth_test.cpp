#include "sidecar/auth/delegated_auth.hpp"

#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "loopback_http.hpp"
#include "topic_patterns.hpp"

using namespace sidecar;
using namespace std::chrono_literals;
using sidecar::test::patterns;
using sidecar::test::reply;

namespace {

using Clock = std::chrono::steady_clock;

// What the app saw of one call.
struct Seen {
  std::string method;
  std::map<std::string, std::string> headers;  // those of interest here, when present
  std::string body;
};

// The app, on loopback: `answer` decides each reply; setting it to nullptr leaves requests
// unanswered.
class App {
 public:
  using Answer = std::function<void(evhttp_request*)>;

  explicit App(event_base* base) : server_(base, [this](evhttp_request* req) { record(req); }) {}

  std::string url() const { return server_.url("/auth"); }
  void answer_with(int status, std::string body) {
    answer = [status, body = std::move(body)](evhttp_request* req) { reply(req, status, body); };
  }

  Answer answer;
  std::vector<Seen> seen;

 private:
  void record(evhttp_request* req) {
    Seen s;
    s.method = evhttp_request_get_command(req) == EVHTTP_REQ_POST ? "POST" : "other";
    for (const char* name : {"Content-Type", "Cookie", "Authorization"}) {
      if (const char* v = evhttp_find_header(evhttp_request_get_input_headers(req), name)) {
        s.headers[name] = v;
      }
    }
    evbuffer* in = evhttp_request_get_input_buffer(req);
    s.body.resize(evbuffer_get_length(in));
    evbuffer_copyout(in, s.body.data(), s.body.size());
    seen.push_back(std::move(s));
    if (answer) answer(req);
  }

  test::LoopbackServer server_;
};

// The loop and the app; the DelegatedAuth under test is declared after it, so it goes first.
struct Loop : test::EventLoop {
  App app{base.get()};
};

struct Outcome {
  AccessDecision decision;
  std::vector<TopicPattern> granted;
};

// One ask, its answer, and whether that came before ask() returned.
struct Asked {
  std::optional<Outcome> outcome;
  bool returned = false;  // ask() has returned
  bool at_once = false;   // the answer came before that
};

std::shared_ptr<Asked> start(DelegatedAuth& auth, const AccessRequest& request) {
  auto asked = std::make_shared<Asked>();
  auth.ask(request, [asked](AccessDecision d, std::vector<TopicPattern> granted) {
    asked->at_once = !asked->returned;
    asked->outcome = Outcome{std::move(d), std::move(granted)};
  });
  asked->returned = true;
  return asked;
}

Outcome ask(Loop& loop, DelegatedAuth& auth, const AccessRequest& request) {
  auto asked = start(auth, request);
  REQUIRE(loop.run_until([&] { return asked->outcome.has_value(); }));
  return *asked->outcome;
}

DelegateConfig config(const Loop& loop) {
  DelegateConfig c;
  c.url = loop.app.url();
  c.timeout = 2000ms;
  return c;
}

AccessRequest request(std::initializer_list<const char*> topics, std::string cookie = "sid=u42") {
  AccessRequest r;
  r.origin = "https://app.example.com";
  r.peer = "203.0.113.7";
  r.topics = patterns(topics);
  if (!cookie.empty()) r.forwarded = {{"Cookie", std::move(cookie)}};
  return r;
}

const char* kGrant = R"({"subject":"u42","topics":["chat.room1","user.u42.*"]})";

}  // namespace

TEST_CASE("the app is asked with a JSON POST and the forwarded headers", "[delegated_auth]") {
  Loop loop;
  loop.app.answer_with(200, kGrant);
  DelegatedAuth auth(config(loop), loop.base.get());
  AccessRequest r = request({"chat.room1", "user.u42.*"});
  r.forwarded.emplace_back("Authorization", "Bearer opaque");
  ask(loop, auth, r);

  REQUIRE(loop.app.seen.size() == 1);
  const Seen& s = loop.app.seen[0];
  CHECK(s.method == "POST");
  CHECK(s.headers.at("Content-Type") == "application/json");
  CHECK(s.headers.at("Cookie") == "sid=u42");
  CHECK(s.headers.at("Authorization") == "Bearer opaque");
  rapidjson::Document doc;
  doc.Parse(s.body.data(), s.body.size());
  REQUIRE_FALSE(doc.HasParseError());
  REQUIRE(doc.IsObject());
  CHECK(doc.MemberCount() == 3);
  REQUIRE(doc["topics"].IsArray());
  REQUIRE(doc["topics"].Size() == 2);
  CHECK(std::string(doc["topics"][0].GetString()) == "chat.room1");
  CHECK(std::string(doc["topics"][1].GetString()) == "user.u42.*");
  CHECK(std::string(doc["origin"].GetString()) == "https://app.example.com");
  CHECK(std::string(doc["peer"].GetString()) == "203.0.113.7");
}

TEST_CASE("only the headers in the request are forwarded", "[delegated_auth]") {
  Loop loop;
  loop.app.answer_with(200, kGrant);
  DelegatedAuth auth(config(loop), loop.base.get());
  ask(loop, auth, request({"chat.room1"}, ""));
  REQUIRE(loop.app.seen.size() == 1);
  CHECK(loop.app.seen[0].headers.count("Cookie") == 0);
  CHECK(loop.app.seen[0].headers.count("Authorization") == 0);
}

TEST_CASE("200 with subject and topics admits with those patterns", "[delegated_auth]") {
  Loop loop;
  loop.app.answer_with(200, kGrant);
  DelegatedAuth auth(config(loop), loop.base.get());
  auto asked = start(auth, request({"chat.room1"}));
  CHECK_FALSE(asked->outcome);  // an HTTP call always answers later, on the loop
  REQUIRE(loop.run_until([&] { return asked->outcome.has_value(); }));
  const Outcome& o = *asked->outcome;
  CHECK(o.decision.status == 200);
  CHECK(o.decision.allowed());
  CHECK(o.decision.subject == "u42");
  CHECK(o.decision.method == AccessMethod::kDelegate);
  CHECK(o.decision.reason.empty());
  CHECK_FALSE(o.decision.expires_at);
  CHECK(o.granted == patterns({"chat.room1", "user.u42.*"}));
}

TEST_CASE("200 granting nothing admits with no patterns", "[delegated_auth]") {
  Loop loop;
  loop.app.answer_with(200, R"({"subject":"u42","topics":[],"extra":true})");
  DelegatedAuth auth(config(loop), loop.base.get());
  Outcome o = ask(loop, auth, request({"chat.room1"}));
  CHECK(o.decision.status == 200);
  CHECK(o.decision.subject == "u42");
  CHECK(o.granted.empty());
}

TEST_CASE("401 and 403 refuse with the app's reason on one line", "[delegated_auth]") {
  Loop loop;
  DelegatedAuth auth(config(loop), loop.base.get());
  struct Row {
    int status;
    std::string body;
    std::string reason;
  };
  const Row rows[] = {
      {403, R"({"reason":"not a member of this room"})", "not a member of this room"},
      {401, R"({"reason":"session expired"})", "session expired"},
      {403, R"({"reason":"line one\r\nline two"})", "line one  line two"},
      {403, R"({"reason":")" + std::string(300, 'r') + R"("})", std::string(200, 'r')},
      {403, R"({"reason":42})", "refused by the application"},
      {401, "<html>Unauthorized</html>", "refused by the application"},
      {403, "", "refused by the application"},
  };
  int n = 0;
  for (const Row& row : rows) {
    INFO(row.body);
    loop.app.answer_with(row.status, row.body);
    // A topic of its own per row, so no answer comes from the cache.
    std::string topic = "room." + std::to_string(++n);
    Outcome o = ask(loop, auth, request({topic.c_str()}));
    CHECK(o.decision.status == row.status);
    CHECK(o.decision.reason == row.reason);
    CHECK(o.decision.method == AccessMethod::kDelegate);
    CHECK(o.decision.subject.empty());
    CHECK(o.granted.empty());
  }
  // A NUL in the reason never reaches the client (the reason ends there or it is replaced).
  loop.app.answer_with(403, R"({"reason":"before\u0000after"})");
  Outcome o = ask(loop, auth, request({"room.nul"}));
  CHECK(o.decision.status == 403);
  CHECK(o.decision.reason.find('\0') == std::string::npos);
  CHECK(o.decision.reason.rfind("before", 0) == 0);
}

TEST_CASE("any other answer is 503: errors, other statuses, malformed grants", "[delegated_auth]") {
  Loop loop;
  DelegatedAuth auth(config(loop), loop.base.get());
  struct Row {
    int status;
    std::string body;
  };
  const Row rows[] = {
      {500, "boom"},
      {502, kGrant},
      {503, ""},
      {404, kGrant},
      {400, R"({"reason":"bad"})"},
      {204, ""},
      {201, kGrant},
      {302, kGrant},
      {200, "not json"},
      {200, ""},
      {200, "[]"},
      {200, R"("u42")"},
      {200, R"({"subject":"u42"})"},
      {200, R"({"topics":["chat.room1"]})"},
      {200, R"({"subject":42,"topics":["chat.room1"]})"},
      {200, R"({"subject":"u42","topics":"chat.room1"})"},
      {200, R"({"subject":"u42","topics":["chat.room1","bad topic"]})"},
      {200, R"({"subject":"u42","topics":["chat.room1",7]})"},
      {200, R"({"subject":"u42","topics":["chat.*.x"]})"},
      {200, R"({"subject":"u42","topics":["chat.room1"]} trailing)"},
  };
  int n = 0;
  for (const Row& row : rows) {
    INFO(row.status << " " << row.body);
    loop.app.answer_with(row.status, row.body);
    std::string topic = "room." + std::to_string(++n);
    Outcome o = ask(loop, auth, request({topic.c_str()}));
    CHECK(o.decision.status == 503);
    CHECK(o.decision.reason == "authorization service unavailable");
    CHECK(o.decision.method == AccessMethod::kDelegate);
    CHECK(o.decision.subject.empty());
    CHECK_FALSE(o.decision.allowed());  // `granted` means nothing then
  }
}

TEST_CASE("an app that does not answer in time is 503, at the timeout", "[delegated_auth]") {
  Loop loop;
  loop.app.answer = nullptr;  // never answers
  DelegateConfig c = config(loop);
  c.timeout = 300ms;
  DelegatedAuth auth(c, loop.base.get());
  const auto started = Clock::now();
  Outcome o = ask(loop, auth, request({"chat.room1"}));
  const auto took = Clock::now() - started;
  CHECK(o.decision.status == 503);
  CHECK(o.decision.reason == "authorization service unavailable");
  CHECK(took >= 250ms);
  CHECK(took < 2000ms);
  CHECK(loop.app.seen.size() == 1);
}

TEST_CASE("an unreachable app is 503", "[delegated_auth]") {
  Loop loop;
  test::RefusingPort closed;
  DelegateConfig c = config(loop);
  c.url = closed.url("/auth");
  DelegatedAuth auth(c, loop.base.get());
  Outcome o = ask(loop, auth, request({"chat.room1"}));
  CHECK(o.decision.status == 503);
  CHECK(o.decision.reason == "authorization service unavailable");
}

TEST_CASE("answers are reused for the same request until cache_ttl", "[delegated_auth]") {
  Loop loop;
  loop.app.answer_with(200, kGrant);
  DelegateConfig c = config(loop);
  c.cache_ttl = 400ms;
  DelegatedAuth auth(c, loop.base.get());
  Outcome first = ask(loop, auth, request({"chat.room1"}));
  REQUIRE(first.decision.allowed());
  REQUIRE(loop.app.seen.size() == 1);

  // The same question is answered from the cache, before ask() returns.
  auto again = start(auth, request({"chat.room1"}));
  REQUIRE(again->outcome);
  CHECK(again->at_once);
  CHECK(again->outcome->decision.status == 200);
  CHECK(again->outcome->decision.subject == "u42");
  CHECK(again->outcome->granted == first.granted);
  CHECK(loop.app.seen.size() == 1);

  // Another cookie, other topics or another origin is another question.
  ask(loop, auth, request({"chat.room1"}, "sid=u43"));
  CHECK(loop.app.seen.size() == 2);
  ask(loop, auth, request({"chat.room1", "user.u42.*"}));
  CHECK(loop.app.seen.size() == 3);
  AccessRequest other_origin = request({"chat.room1"});
  other_origin.origin = "https://other.example.com";
  ask(loop, auth, other_origin);
  CHECK(loop.app.seen.size() == 4);
  AccessRequest no_cookie = request({"chat.room1"}, "");
  ask(loop, auth, no_cookie);
  CHECK(loop.app.seen.size() == 5);
  CHECK(start(auth, request({"chat.room1"}, "sid=u43"))->at_once);
  CHECK(loop.app.seen.size() == 5);

  // Once the answer is older than cache_ttl the app is asked again.
  loop.run_for(500ms);
  loop.app.answer_with(403, R"({"reason":"logged out"})");
  Outcome later = ask(loop, auth, request({"chat.room1"}));
  CHECK(loop.app.seen.size() == 6);
  CHECK(later.decision.status == 403);
  CHECK(later.decision.reason == "logged out");
}

TEST_CASE("refusals are cached like grants", "[delegated_auth]") {
  Loop loop;
  loop.app.answer_with(403, R"({"reason":"not a member"})");
  DelegatedAuth auth(config(loop), loop.base.get());
  CHECK(ask(loop, auth, request({"chat.room1"})).decision.status == 403);
  loop.app.answer_with(200, kGrant);
  auto again = start(auth, request({"chat.room1"}));
  REQUIRE(again->outcome);
  CHECK(again->outcome->decision.status == 403);
  CHECK(again->outcome->decision.reason == "not a member");
  CHECK(loop.app.seen.size() == 1);
}

TEST_CASE("failures are not cached: the next request asks again", "[delegated_auth]") {
  Loop loop;
  loop.app.answer_with(500, "down");
  DelegatedAuth auth(config(loop), loop.base.get());
  CHECK(ask(loop, auth, request({"chat.room1"})).decision.status == 503);
  loop.app.answer_with(200, R"({"subject":"u42"})");  // malformed: also 503, also not kept
  CHECK(ask(loop, auth, request({"chat.room1"})).decision.status == 503);
  loop.app.answer_with(200, kGrant);
  CHECK(ask(loop, auth, request({"chat.room1"})).decision.status == 200);
  CHECK(loop.app.seen.size() == 3);
}

TEST_CASE("cache_ttl 0 asks the app every time", "[delegated_auth]") {
  Loop loop;
  loop.app.answer_with(200, kGrant);
  DelegateConfig c = config(loop);
  c.cache_ttl = 0ms;
  DelegatedAuth auth(c, loop.base.get());
  for (int i = 0; i < 3; ++i) CHECK(ask(loop, auth, request({"chat.room1"})).decision.allowed());
  CHECK(loop.app.seen.size() == 3);
}

TEST_CASE("beyond max_concurrent calls in flight, 503 at once; cached answers still served",
          "[delegated_auth]") {
  Loop loop;
  loop.app.answer_with(200, kGrant);
  DelegateConfig c = config(loop);
  c.max_concurrent = 2;
  c.timeout = 400ms;
  DelegatedAuth auth(c, loop.base.get());
  REQUIRE(ask(loop, auth, request({"cached"})).decision.allowed());

  loop.app.answer = nullptr;  // the app hangs from now on
  auto one = start(auth, request({"room.1"}));
  auto two = start(auth, request({"room.2"}));
  CHECK_FALSE(one->outcome);
  CHECK_FALSE(two->outcome);
  auto three = start(auth, request({"room.3"}));
  REQUIRE(three->outcome);
  CHECK(three->at_once);
  CHECK(three->outcome->decision.status == 503);
  CHECK(three->outcome->decision.reason == "authorization service busy");
  CHECK(three->outcome->decision.method == AccessMethod::kDelegate);
  // The cache does not need the app.
  auto cached = start(auth, request({"cached"}));
  REQUIRE(cached->outcome);
  CHECK(cached->outcome->decision.allowed());

  // Both calls time out, which frees their places.
  REQUIRE(loop.run_until([&] { return one->outcome && two->outcome; }));
  CHECK(one->outcome->decision.status == 503);
  CHECK(one->outcome->decision.reason == "authorization service unavailable");
  loop.app.answer_with(200, kGrant);
  Outcome after = ask(loop, auth, request({"room.3"}));  // the busy refusal was not cached
  CHECK(after.decision.status == 200);
  // The app saw the first call, the two that hung and the last; never the refused one early.
  CHECK(loop.app.seen.size() == 4);
}
