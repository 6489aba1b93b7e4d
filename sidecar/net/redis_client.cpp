#include "sidecar/net/redis_client.hpp"

#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>

namespace sidecar {
namespace {

using Clock = std::chrono::steady_clock;
constexpr timeval kTick{0, 100000};  // how often deadlines are looked at

std::string context_error(const redisAsyncContext* ac) {
  return ac && ac->errstr ? std::string(ac->errstr) : std::string("unknown error");
}

}  // namespace

struct RedisClient::Pending {
  RedisClient* client;
  Done done;
  Clock::time_point sent;
};

RedisClient::RedisClient(event_base* base, std::string name, Options options)
    : base_(base),
      name_(std::move(name)),
      options_(std::move(options)),
      backoff_(options_.reconnect_backoff),
      timer_(event_new(base, -1, EV_PERSIST, &on_timer, this)),
      retry_(evtimer_new(base, &on_retry, this)),
      drop_(event_new(base, -1, 0, &on_drop, this)) {}

RedisClient::~RedisClient() {
  // Pending commands end without their callbacks: their owners are going away too.
  for (Pending* p : pending_) p->client = nullptr;
  pending_.clear();
  if (ctx_) {
    redisAsyncContext* c = ctx_;
    ctx_ = nullptr;
    c->data = nullptr;
    redisAsyncFree(c);
  }
}

void RedisClient::set_subscription(std::string channel,
                                   std::function<void(std::string_view)> on_message) {
  channel_ = std::move(channel);
  on_message_ = std::move(on_message);
}

void RedisClient::start() {
  if (state_ == State::kIdle) connect();
}

void RedisClient::connect() {
  state_ = State::kConnecting;
  redisAsyncContext* ac = nullptr;
  const std::string& address = options_.address;
  if (address.rfind("unix:", 0) == 0) {
    ac = redisAsyncConnectUnix(address.substr(5).c_str());
  } else {
    auto colon = address.rfind(':');
    std::string host = address.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    int port = 0;
    std::from_chars(address.data() + colon + 1, address.data() + address.size(), port);
    ac = redisAsyncConnect(host.c_str(), port);
  }
  if (!ac || ac->err) {
    std::string why = "cannot connect to " + address + ": " + context_error(ac);
    if (ac) redisAsyncFree(ac);
    return lost(why);
  }
  ac->data = this;
  redisLibeventAttach(ac, base_);
  redisAsyncSetConnectCallback(ac, &on_connect);
  redisAsyncSetDisconnectCallback(ac, &on_disconnect);
  ctx_ = ac;
  handshake_deadline_ = Clock::now() + options_.connect_timeout + options_.command_timeout;
  event_add(timer_.get(), &kTick);
}

void RedisClient::on_connect(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<RedisClient*>(ac->data);
  if (!self) return;
  if (status != REDIS_OK) {
    self->ctx_ = nullptr;  // hiredis frees it when this returns
    self->schedule_drop("cannot connect to " + self->options_.address + ": " + context_error(ac));
    return;
  }
  self->handshake();
}

void RedisClient::handshake() {
  state_ = State::kHandshake;
  if (!options_.password.empty()) {
    std::vector<std::string> auth{"AUTH"};
    if (!options_.username.empty()) auth.push_back(options_.username);
    auth.push_back(options_.password);
    send(auth, [this](const redisReply*, const std::string& error) {
      if (!error.empty()) schedule_drop("AUTH refused: " + error);
    });
  }
  send({"PING"}, [this](const redisReply* reply, const std::string&) {
    if (!reply || state_ != State::kHandshake) return;  // AUTH failed, or lost: handled there
    if (channel_.empty()) return became_ready();
    const char* argv[] = {"SUBSCRIBE", channel_.c_str()};
    const size_t lens[] = {9, channel_.size()};
    if (redisAsyncCommandArgv(ctx_, &on_subscribed, this, 2, argv, lens) != REDIS_OK) {
      schedule_drop("cannot subscribe");
    }
  });
}

void RedisClient::on_subscribed(redisAsyncContext* ac, void* r, void* arg) {
  auto* self = static_cast<RedisClient*>(arg);
  const auto* reply = static_cast<const redisReply*>(r);
  if (!reply || ac->data != self || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) {
    return;  // lost (the disconnect is handled on its own), or not a pub/sub frame
  }
  std::string_view kind(reply->element[0]->str, reply->element[0]->len);
  if (kind == "subscribe") {
    if (self->state_ == State::kHandshake) self->became_ready();
  } else if (kind == "message" && reply->element[2]->type == REDIS_REPLY_STRING) {
    self->on_message_(std::string_view(reply->element[2]->str, reply->element[2]->len));
  }
}

void RedisClient::became_ready() {
  state_ = State::kReady;
  backoff_ = options_.reconnect_backoff;
  ++connects_;
  spdlog::info("redis {}: connected to {}", name_, options_.address);
  if (on_ready_) on_ready_();
}

void RedisClient::command(const std::vector<std::string>& args, Done done) {
  if (state_ != State::kReady) {
    ++errors_;
    return done(nullptr, "engine unavailable");
  }
  send(args, std::move(done));
}

void RedisClient::send(const std::vector<std::string>& args, Done done) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* p = new Pending{this, std::move(done), Clock::now()};
  if (!ctx_ || redisAsyncCommandArgv(ctx_, &on_reply, p, static_cast<int>(argv.size()), argv.data(),
                                     lens.data()) != REDIS_OK) {
    Done failed = std::move(p->done);
    delete p;
    ++errors_;
    failed(nullptr, "engine unavailable");
    return;
  }
  ++commands_;
  last_sent_ = p->sent;
  pending_.push_back(p);
}

void RedisClient::on_reply(redisAsyncContext*, void* r, void* arg) {
  auto* p = static_cast<Pending*>(arg);
  RedisClient* self = p->client;
  if (self) {
    // Redis answers in order: this is the front, but for commands failed while freeing.
    auto it = std::find(self->pending_.begin(), self->pending_.end(), p);
    if (it != self->pending_.end()) self->pending_.erase(it);
    const auto* reply = static_cast<const redisReply*>(r);
    if (!reply) {
      ++self->errors_;
      p->done(nullptr, self->drop_reason_.empty() ? "connection lost" : self->drop_reason_);
    } else if (reply->type == REDIS_REPLY_ERROR) {
      ++self->errors_;
      p->done(nullptr, std::string(reply->str, reply->len));
    } else {
      self->last_rtt_us_ = static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - p->sent).count());
      p->done(reply, {});
    }
  }
  delete p;
}

void RedisClient::on_disconnect(const redisAsyncContext* ac, int) {
  auto* self = static_cast<RedisClient*>(ac->data);
  if (!self) return;
  self->ctx_ = nullptr;  // hiredis frees it when this returns
  self->schedule_drop("connection to " + self->options_.address + " lost: " + context_error(ac));
}

void RedisClient::schedule_drop(const std::string& why) {
  if (drop_reason_.empty()) drop_reason_ = why;
  event_active(drop_.get(), EV_TIMEOUT, 0);
}

void RedisClient::reset(const std::string& why) {
  if (state_ == State::kIdle || state_ == State::kBackoff) return;
  schedule_drop(why);
}

void RedisClient::on_drop(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<RedisClient*>(arg);
  if (self->state_ == State::kBackoff || self->state_ == State::kIdle) return;
  self->lost(self->drop_reason_);
}

void RedisClient::lost(const std::string& why) {
  bool was_ready = state_ == State::kReady;
  if (drop_reason_.empty()) drop_reason_ = why;
  if (ctx_) {
    redisAsyncContext* c = ctx_;
    ctx_ = nullptr;
    c->data = nullptr;  // its disconnect callback has nothing left to do
    redisAsyncFree(c);  // runs the pending commands' callbacks with no reply
  }
  state_ = State::kBackoff;
  ++errors_;
  event_del(timer_.get());
  timeval tv = to_timeval(backoff_);
  evtimer_add(retry_.get(), &tv);
  spdlog::warn("redis {}: {}; reconnecting in {} ms", name_, why, backoff_.count());
  backoff_ = std::min(backoff_ * 2, options_.max_reconnect_backoff);
  drop_reason_.clear();
  if (was_ready && on_lost_) on_lost_(why);
}

void RedisClient::on_retry(evutil_socket_t, short, void* arg) {
  static_cast<RedisClient*>(arg)->connect();
}

void RedisClient::on_timer(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<RedisClient*>(arg);
  auto now = Clock::now();
  if ((self->state_ == State::kConnecting || self->state_ == State::kHandshake) &&
      now > self->handshake_deadline_) {
    return self->lost(
        "no answer from " + self->options_.address + " within " +
        std::to_string((self->options_.connect_timeout + self->options_.command_timeout).count()) +
        " ms");
  }
  if (!self->pending_.empty() &&
      now - self->pending_.front()->sent > self->options_.command_timeout) {
    return self->lost("no reply from " + self->options_.address + " within " +
                      std::to_string(self->options_.command_timeout.count()) + " ms");
  }
  // Idle: a PING, so that its missing answer shows a server that stopped (a subscriber
  // connection cannot PING in hiredis 0.14; its command connection watches for both).
  auto idle = std::min<std::chrono::milliseconds>(std::chrono::seconds(1),
                                                  self->options_.command_timeout / 2);
  if (self->state_ == State::kReady && self->channel_.empty() && self->pending_.empty() &&
      now - self->last_sent_ > idle) {
    self->send({"PING"}, [](const redisReply*, const std::string&) {});
  }
}

}  // namespace sidecar
