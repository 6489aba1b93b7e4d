#include "sidecar/net/http_client.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string_view>

namespace sidecar {
namespace {

using EasyPtr = std::unique_ptr<CURL, CDeleter<curl_easy_cleanup>>;
using SlistPtr = std::unique_ptr<curl_slist, CDeleter<curl_slist_free_all>>;

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// CR, LF or NUL in a header would let a caller's value inject headers of its own.
bool has_line_break(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

bool iequals(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](char x, char y) { return (x | 0x20) == (y | 0x20); });
}

std::string one_line(std::string_view text) {
  std::string line(text);
  std::replace_if(
      line.begin(), line.end(), [](char c) { return c == '\r' || c == '\n'; }, ' ');
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line;
}

// Runs a user callback without letting its exception unwind through libevent's C frames.
void run_done(const HttpClient::Done& done, HttpResult result) {
  try {
    done(std::move(result));
  } catch (const std::exception& e) {
    spdlog::error("http client: callback threw: {}", e.what());
  } catch (...) {
    spdlog::error("http client: callback threw");
  }
}

}  // namespace

// One call and everything curl points into while it runs, so its address must stay put.
struct HttpClient::Call {
  Id id = 0;
  Done done;
  std::string request_body;
  std::size_t max_response_bytes = 0;
  std::string response;
  bool too_large = false;
  char error[CURL_ERROR_SIZE] = {};
  HttpResult early;  // the result of a call that failed before reaching curl
  SlistPtr headers;
  CURLM* multi = nullptr;  // set while the easy handle is added to it
  EasyPtr easy;            // declared last: freed before the buffers it points into

  Call() = default;
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;
  ~Call() {
    if (multi) curl_multi_remove_handle(multi, easy.get());
  }

  // Builds the easy handle; returns why it cannot, or "" on success.
  std::string configure(const HttpCall& spec);
  HttpResult result(CURLcode code);
  std::string describe(CURLcode code);
  static std::size_t on_body(char* data, std::size_t size, std::size_t count, void* self);
};

std::string HttpClient::Call::configure(const HttpCall& spec) {
  const bool post = spec.method == "POST";
  if (!post && spec.method != "GET") return "unsupported method";

  bool has_expect = false;
  for (const auto& [name, value] : spec.headers) {
    if (name.empty() || name.find(':') != std::string::npos || has_line_break(name) ||
        has_line_break(value)) {
      return "invalid header";
    }
    has_expect = has_expect || iequals(name, "expect");
    // "Name;" is curl's spelling of a header sent with an empty value; "Name:" would drop it.
    std::string line = name;
    if (value.empty()) {
      line += ';';
    } else {
      line += ": ";
      line += value;
    }
    curl_slist* head = curl_slist_append(headers.get(), line.c_str());
    if (!head) return "out of memory";
    if (!headers) headers.reset(head);
  }
  // curl would otherwise wait up to a second for "100 Continue" before sending larger bodies.
  if (post && !has_expect) {
    curl_slist* head = curl_slist_append(headers.get(), "Expect:");
    if (!head) return "out of memory";
    if (!headers) headers.reset(head);
  }

  easy.reset(curl_easy_init());
  if (!easy) return "cannot create a curl handle";
  CURL* e = easy.get();
  // curl treats 0 as "no timeout"; a call must always end.
  const long timeout_ms =
      static_cast<long>(std::clamp<std::int64_t>(spec.timeout.count(), 1, LONG_MAX));
  const auto max_file = static_cast<curl_off_t>(
      std::min<std::size_t>(max_response_bytes, static_cast<std::size_t>(LLONG_MAX)));
  CURLcode failed = CURLE_OK;
  for (CURLcode rc : {
           curl_easy_setopt(e, CURLOPT_URL, spec.url.c_str()),
           curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https"),
           curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L),
           curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L),
           // Calls go straight to the configured URL: a proxy picked up from the environment
           // (http_proxy) would silently reroute calls to an app on loopback.
           curl_easy_setopt(e, CURLOPT_PROXY, ""),
           curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms),
           curl_easy_setopt(e, CURLOPT_PRIVATE, static_cast<void*>(this)),
           curl_easy_setopt(e, CURLOPT_ERRORBUFFER, error),
           curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, static_cast<curl_write_callback>(&on_body)),
           curl_easy_setopt(e, CURLOPT_WRITEDATA, static_cast<void*>(this)),
           // Refuses early when Content-Length already says too much (0 would mean no limit).
           curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, max_file > 0 ? max_file : curl_off_t{1}),
           curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers.get()),
       }) {
    if (failed == CURLE_OK) failed = rc;
  }
  if (post) {
    for (CURLcode rc : {
             curl_easy_setopt(e, CURLOPT_POST, 1L),
             curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                              static_cast<curl_off_t>(request_body.size())),
             curl_easy_setopt(e, CURLOPT_POSTFIELDS, request_body.data()),
         }) {
      if (failed == CURLE_OK) failed = rc;
    }
  } else {
    CURLcode rc = curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    if (failed == CURLE_OK) failed = rc;
  }
  return failed == CURLE_OK ? std::string() : one_line(curl_easy_strerror(failed));
}

std::size_t HttpClient::Call::on_body(char* data, std::size_t size, std::size_t count, void* self) {
  auto* call = static_cast<Call*>(self);
  const std::size_t n = size * count;
  // response.size() never exceeds the limit, so this cannot underflow.
  if (n > call->max_response_bytes - call->response.size()) {
    call->too_large = true;
    return 0;  // any short count makes curl fail the transfer
  }
  try {
    call->response.append(data, n);
  } catch (const std::bad_alloc&) {
    return 0;
  }
  return n;
}

HttpResult HttpClient::Call::result(CURLcode code) {
  HttpResult r;
  if (code != CURLE_OK) {
    // All or nothing: a status whose body never fully arrived must not pass for an answer.
    r.timed_out = code == CURLE_OPERATION_TIMEDOUT;
    r.error = describe(code);
    return r;
  }
  long status = 0;
  curl_easy_getinfo(easy.get(), CURLINFO_RESPONSE_CODE, &status);
  r.status = static_cast<int>(status);
  r.body = std::move(response);
  return r;
}

std::string HttpClient::Call::describe(CURLcode code) {
  if (code == CURLE_OPERATION_TIMEDOUT) return "timed out";
  if (too_large || code == CURLE_FILESIZE_EXCEEDED) return "response too large";
  if (code == CURLE_COULDNT_CONNECT) {
    long os_errno = 0;
    curl_easy_getinfo(easy.get(), CURLINFO_OS_ERRNO, &os_errno);
    if (os_errno == ECONNREFUSED) return "connection refused";
  }
  return one_line(error[0] != '\0' ? std::string_view(error) : curl_easy_strerror(code));
}

HttpClient::HttpClient(event_base* base)
    : base_(base),
      timer_(evtimer_new(base, &on_timer, this)),
      deferred_(event_new(base, -1, 0, &on_deferred, this)),
      alive_(std::make_shared<char>()) {
  init_curl_once();
  multi_.reset(curl_multi_init());
  if (!timer_ || !deferred_ || !multi_) throw std::runtime_error("cannot create HTTP client");
  CURLM* m = multi_.get();
  curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, static_cast<curl_socket_callback>(&on_curl_socket));
  curl_multi_setopt(m, CURLMOPT_SOCKETDATA, static_cast<void*>(this));
  curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION,
                    static_cast<curl_multi_timer_callback>(&on_curl_timer));
  curl_multi_setopt(m, CURLMOPT_TIMERDATA, static_cast<void*>(this));
}

HttpClient::~HttpClient() {
  // Calls leave the multi first, then the multi closes its cached connections; both still
  // report to on_curl_socket/on_curl_timer, so the events they update go last.
  calls_.clear();
  multi_.reset();
  sockets_.clear();
}

HttpClient::Id HttpClient::start(HttpCall spec, Done done) {
  auto owned = std::make_unique<Call>();
  Call& call = *owned;
  call.id = next_id_++;
  call.done = std::move(done);
  call.request_body = std::move(spec.body);
  call.max_response_bytes = spec.max_response_bytes;
  calls_.emplace(call.id, std::move(owned));

  if (std::string error = call.configure(spec); !error.empty()) {
    fail_later(call, std::move(error));
  } else if (CURLMcode rc = curl_multi_add_handle(multi_.get(), call.easy.get()); rc != CURLM_OK) {
    fail_later(call, one_line(curl_multi_strerror(rc)));
  } else {
    // Adding only arms curl's timer; the transfer starts from the loop, after we return.
    call.multi = multi_.get();
  }
  return call.id;
}

void HttpClient::cancel(Id id) {
  calls_.erase(id);  // a pending failure or finished message for it is skipped by its id
}

void HttpClient::fail_later(Call& call, std::string error) {
  call.early.error = std::move(error);
  failed_.push_back(call.id);
  event_active(deferred_.get(), EV_TIMEOUT, 0);
}

int HttpClient::on_curl_socket(CURL*, curl_socket_t fd, int what, void* self, void*) {
  try {
    static_cast<HttpClient*>(self)->watch_socket(fd, what);
  } catch (const std::exception& e) {
    // The transfer on this socket then ends by its timeout.
    spdlog::error("http client: cannot watch socket {}: {}", fd, e.what());
  }
  return 0;
}

void HttpClient::watch_socket(curl_socket_t fd, int what) {
  if (what == CURL_POLL_REMOVE) {
    // curl calls this before closing the socket, so the event never outlives its fd.
    sockets_.erase(fd);
    return;
  }
  short events = EV_PERSIST;
  if (what & CURL_POLL_IN) events |= EV_READ;
  if (what & CURL_POLL_OUT) events |= EV_WRITE;
  EventPtr& ev = sockets_[fd];
  if (ev) {
    event_del(ev.get());
    event_assign(ev.get(), base_, fd, events, &on_socket, this);
  } else {
    ev.reset(event_new(base_, fd, events, &on_socket, this));
    if (!ev) throw std::runtime_error("event_new failed");
  }
  if ((events & (EV_READ | EV_WRITE)) != 0 && event_add(ev.get(), nullptr) != 0) {
    throw std::runtime_error("event_add failed");
  }
}

int HttpClient::on_curl_timer(CURLM*, long timeout_ms, void* self) {
  event* timer = static_cast<HttpClient*>(self)->timer_.get();
  if (timeout_ms < 0) return event_del(timer);
  // curl asks not to be re-entered from here, so even a zero timeout waits for the loop.
  timeval tv{static_cast<time_t>(timeout_ms / 1000),
             static_cast<suseconds_t>((timeout_ms % 1000) * 1000)};
  return evtimer_add(timer, &tv);
}

void HttpClient::on_socket(evutil_socket_t fd, short what, void* self) {
  int flags = 0;
  if (what & EV_READ) flags |= CURL_CSELECT_IN;
  if (what & EV_WRITE) flags |= CURL_CSELECT_OUT;
  static_cast<HttpClient*>(self)->socket_action(fd, flags);
}

void HttpClient::on_timer(evutil_socket_t, short, void* self) {
  static_cast<HttpClient*>(self)->socket_action(CURL_SOCKET_TIMEOUT, 0);
}

void HttpClient::socket_action(curl_socket_t fd, int flags) {
  int running = 0;
  curl_multi_socket_action(multi_.get(), fd, flags, &running);
  try {
    finish_done_transfers();
  } catch (const std::exception& e) {
    spdlog::error("http client: {}", e.what());
  }
}

void HttpClient::finish_done_transfers() {
  // Read every message before running any callback: a callback may start or cancel calls, and
  // a cancelled call's record (and its id) is gone by the time its message comes up.
  std::vector<std::pair<Id, CURLcode>> finished;
  int queued = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_.get(), &queued)) {
    if (msg->msg != CURLMSG_DONE) continue;
    char* call = nullptr;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &call);
    finished.emplace_back(reinterpret_cast<Call*>(call)->id, msg->data.result);
  }
  for (auto [id, code] : finished) {
    auto it = calls_.find(id);
    if (it == calls_.end()) continue;
    if (!complete(id, it->second->result(code))) return;
  }
}

void HttpClient::on_deferred(evutil_socket_t, short, void* self) {
  auto* client = static_cast<HttpClient*>(self);
  std::vector<Id> ids;
  ids.swap(client->failed_);
  for (Id id : ids) {
    auto it = client->calls_.find(id);
    if (it == client->calls_.end()) continue;
    if (!client->complete(id, std::move(it->second->early))) return;
  }
}

bool HttpClient::complete(Id id, HttpResult result) {
  Done done;
  {
    // Detach and free the call before its callback, which may start, cancel or destroy.
    auto node = calls_.extract(id);
    if (node.empty()) return true;
    done = std::move(node.mapped()->done);
  }
  std::weak_ptr<char> alive = alive_;
  run_done(done, std::move(result));
  return !alive.expired();
}

}  // namespace sidecar
