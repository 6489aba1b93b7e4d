#include "sidecar/net/redis_sentinel.hpp"

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

namespace sidecar {
namespace {

RedisClient::Options sentinel_options(const RedisClient::Options& timeouts,
                                      const std::string& address) {
  RedisClient::Options o = timeouts;
  o.address = address;
  o.username.clear();  // the data server's credentials are not the sentinels'
  o.password.clear();
  return o;
}

}  // namespace

RedisSentinel::RedisSentinel(event_base* base, std::vector<std::string> sentinels,
                             std::string master_name, const RedisClient::Options& timeouts,
                             std::function<void(const std::string&)> on_primary)
    : sentinels_(std::move(sentinels)),
      master_(std::move(master_name)),
      on_primary_(std::move(on_primary)),
      query_(base, "sentinel", sentinel_options(timeouts, sentinels_.at(0))),
      watch_(base, "sentinel watch", sentinel_options(timeouts, sentinels_.at(0))) {
  query_.set_on_ready([this] { ask(); });
  query_.set_on_lost([this](const std::string&) { next_sentinel(query_, query_index_); });
  watch_.set_subscription("+switch-master", [this](std::string_view message) {
    // "<master name> <old ip> <old port> <new ip> <new port>"
    std::vector<std::string> parts;
    std::size_t from = 0;
    while (from <= message.size()) {
      auto sp = message.find(' ', from);
      parts.emplace_back(message.substr(from, sp == std::string_view::npos ? sp : sp - from));
      if (sp == std::string_view::npos) break;
      from = sp + 1;
    }
    if (parts.size() == 5 && parts[0] == master_) learnt(parts[3] + ":" + parts[4]);
  });
  watch_.set_on_ready([this] { ask(); });  // a switch may have happened while it was away
  watch_.set_on_lost([this](const std::string&) { next_sentinel(watch_, watch_index_); });
}

void RedisSentinel::start() {
  query_.start();
  watch_.start();
}

void RedisSentinel::next_sentinel(RedisClient& client, std::size_t& index) {
  index = (index + 1) % sentinels_.size();
  client.set_address(sentinels_[index]);
}

void RedisSentinel::ask() {
  query_.command({"SENTINEL", "get-master-addr-by-name", master_},
                 [this](const redisReply* reply, const std::string& error) {
                   if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
                     if (reply) {
                       spdlog::warn("redis sentinel: no primary known for '{}'", master_);
                     } else if (error != "engine unavailable") {
                       spdlog::warn("redis sentinel: {}", error);
                     }
                     return;
                   }
                   learnt(std::string(reply->element[0]->str, reply->element[0]->len) + ":" +
                          std::string(reply->element[1]->str, reply->element[1]->len));
                 });
}

void RedisSentinel::learnt(const std::string& address) {
  if (address == primary_) return;
  spdlog::info("redis sentinel: the primary of '{}' is {}", master_, address);
  primary_ = address;
  on_primary_(address);
}

}  // namespace sidecar
