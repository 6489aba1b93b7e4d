// One connection to Redis on a libevent loop, through hiredis's async API and its libevent
// adapter: commands never block the loop. The connection makes itself again after any loss,
// with a doubling backoff, and counts itself lost when a reply is later than the command
// timeout (a stopped or unreachable server accepts TCP connections and never answers, which a
// socket error alone would not show).
//
// An idle command connection sends a PING now and then, so that a server that stopped
// answering is noticed within the command timeout even when nothing is being published.
//
// A client is either for commands, or a subscriber: set_subscription() makes it SUBSCRIBE on
// every (re)connect, and it is ready once Redis confirmed the subscription.
//
// Thread contract: one loop's thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "sidecar/net/libevent.hpp"

struct redisAsyncContext;
struct redisReply;

namespace sidecar {

class RedisClient {
 public:
  struct Options {
    std::string address;  // host:port or unix:/path
    std::string username;
    std::string password;  // "" = no AUTH
    std::chrono::milliseconds connect_timeout{2000};
    std::chrono::milliseconds command_timeout{2000};
    std::chrono::milliseconds reconnect_backoff{100};
    std::chrono::milliseconds max_reconnect_backoff{5000};
  };
  // Runs exactly once: with the reply (never an error reply: that comes as `error`), or with a
  // null reply and why (not connected, lost, timed out, or Redis's error text).
  using Done = std::function<void(const redisReply* reply, const std::string& error)>;

  RedisClient(event_base* base, std::string name, Options options);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Before start(): each (re)connection subscribes to `channel`; messages go to `on_message`.
  void set_subscription(std::string channel, std::function<void(std::string_view)> on_message);
  // Called when the connection becomes usable (after AUTH, PING or the subscription), and when
  // it is lost (with why). Both run on the loop, outside hiredis's callbacks.
  void set_on_ready(std::function<void()> fn) { on_ready_ = std::move(fn); }
  void set_on_lost(std::function<void(const std::string&)> fn) { on_lost_ = std::move(fn); }

  void start();
  // Drops the connection now (if any) and makes it again after the backoff.
  void reset(const std::string& why);
  // The next connection goes to `address` (a failover); reset() to move at once.
  void set_address(std::string address) { options_.address = std::move(address); }

  bool ready() const { return state_ == State::kReady; }
  // Commands sent, errors (failed commands and lost connections), connections made.
  std::uint64_t commands() const { return commands_; }
  std::uint64_t errors() const { return errors_; }
  std::uint64_t connects() const { return connects_; }
  // Round trip of the last reply, in microseconds.
  std::uint64_t last_round_trip_us() const { return last_rtt_us_; }

  // Fails at once (null reply, "engine unavailable") when not ready.
  void command(const std::vector<std::string>& args, Done done);

 private:
  enum class State : std::uint8_t { kIdle, kConnecting, kHandshake, kReady, kBackoff };
  struct Pending;

  void connect();
  void send(const std::vector<std::string>& args, Done done);  // in any connected state
  void handshake();
  void became_ready();
  void lost(const std::string& why);  // outside hiredis callbacks
  void schedule_drop(const std::string& why);
  static void on_connect(const redisAsyncContext* ac, int status);
  static void on_disconnect(const redisAsyncContext* ac, int status);
  static void on_reply(redisAsyncContext* ac, void* reply, void* pending);
  static void on_subscribed(redisAsyncContext* ac, void* reply, void* self);
  static void on_timer(evutil_socket_t, short, void* self);
  static void on_retry(evutil_socket_t, short, void* self);
  static void on_drop(evutil_socket_t, short, void* self);

  event_base* base_;
  const std::string name_;
  Options options_;
  std::string channel_;
  std::function<void(std::string_view)> on_message_;
  std::function<void()> on_ready_;
  std::function<void(const std::string&)> on_lost_;

  redisAsyncContext* ctx_ = nullptr;  // owned until hiredis frees it (after on_disconnect)
  State state_ = State::kIdle;
  std::deque<Pending*> pending_;  // in the order Redis answers
  std::chrono::steady_clock::time_point handshake_deadline_;
  std::chrono::steady_clock::time_point last_sent_;
  std::chrono::milliseconds backoff_;
  std::string drop_reason_;
  EventPtr timer_;  // command and handshake deadlines
  EventPtr retry_;  // reconnect after the backoff
  EventPtr drop_;   // drops the connection outside hiredis's callbacks
  std::uint64_t commands_ = 0;
  std::uint64_t errors_ = 0;
  std::uint64_t connects_ = 0;
  std::uint64_t last_rtt_us_ = 0;
};

}  // namespace sidecar
