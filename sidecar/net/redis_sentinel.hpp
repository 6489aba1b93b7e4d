// Finds a Redis primary through redis-sentinel, and follows it across failovers: asks a
// sentinel for the primary of a master name (SENTINEL get-master-addr-by-name) and listens on
// another connection for +switch-master. hiredis has no Sentinel support; this is ours. A
// sentinel that does not answer is replaced by the next one in the list.
//
// Thread contract: one loop's thread only.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "sidecar/net/redis_client.hpp"

namespace sidecar {

class RedisSentinel {
 public:
  // `on_primary` gets "host:port" each time the primary is learnt or moves.
  RedisSentinel(event_base* base, std::vector<std::string> sentinels, std::string master_name,
                const RedisClient::Options& timeouts,
                std::function<void(const std::string& address)> on_primary);
  RedisSentinel(const RedisSentinel&) = delete;
  RedisSentinel& operator=(const RedisSentinel&) = delete;

  void start();
  // Asks again now (the primary's connection was lost: it may have moved unannounced).
  void ask();
  const std::string& primary() const { return primary_; }

 private:
  void learnt(const std::string& address);
  void next_sentinel(RedisClient& client, std::size_t& index);

  const std::vector<std::string> sentinels_;
  const std::string master_;
  std::function<void(const std::string&)> on_primary_;
  std::size_t query_index_ = 0;
  std::size_t watch_index_ = 0;
  RedisClient query_;
  RedisClient watch_;
  std::string primary_;
};

}  // namespace sidecar
