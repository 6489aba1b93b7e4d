// The shared engine: several sidecars on one Redis behave as one service. Ids come from one
// counter in Redis under an epoch that Redis's data carries (no clock is shared between nodes);
// history is kept in Redis within the history limits; every committed event is announced on
// one channel that each node subscribes to once, and reaches the node's streams from there, in
// the order Redis committed it.
//
// A node that lost its subscription (Redis restarted, a network cut, a gap in the sequence it
// receives) reads what it missed back from Redis before delivering anything newer; what Redis
// no longer has is reported as missed, never skipped in silence.
//
// Thread contract: the hub's thread, but replay() and newest(), which any thread may call.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "sidecar/config/config.hpp"
#include "sidecar/hub/engine.hpp"
#include "sidecar/net/loop_wakeup.hpp"
#include "sidecar/net/redis_client.hpp"
#include "sidecar/net/redis_sentinel.hpp"

namespace sidecar {

class RedisEngine final : public Engine {
 public:
  RedisEngine(event_base* base, const RedisConfig& redis, const HistoryConfig& history,
              EventSink& sink);
  ~RedisEngine() override;

  void publish(EventDraft draft, PublishDone done) override;
  void replay(const std::vector<TopicPattern>& patterns, std::string_view last_id,
              ReplayDone done) override;
  void latest(const std::vector<TopicPattern>& patterns, std::size_t per_topic, EventId up_to,
              ReplayDone done) override;
  EventId newest() const override;
  void configure(const HistoryConfig& history) override { history_ = history; }
  // History as Redis holds it for every node: its topics and what it costs (as of the last
  // lease tick), and what this node's scripts evicted (the sum over nodes is the service's).
  // Retained events and their bytes are not counted in Redis: 0.
  HistoryStats stats() const override { return history_stats_; }
  // The whole service's topics, from Redis: their history as Redis holds it.
  void list_topics(TopicQuery query, TopicsDone done) override;
  bool ready() const override;
  // Announced on the events channel; every node, this one included, ends its streams.
  bool disconnect(const std::string& subject, const std::string& topic) override;
  // Presence over every node: counts per topic and subject in Redis, with each node's share kept
  // apart under a lease it renews every second; a node that stops renewing (a crash) has its
  // share removed by the others, and its subjects leave, within kPresenceLease.
  void presence(bool join, const std::string& topic, const std::string& subject,
                std::function<void(bool global)> done) override;
  bool shared_presence() const override { return true; }
  void presence_subjects(
      const std::string& topic,
      std::function<void(std::optional<std::vector<std::string>>)> done) override;
  void set_presence_leaves(PresenceListener listener) override {
    presence_leaves_ = std::move(listener);
  }
  // The housekeeping tick: renews this node's lease and removes expired nodes' presence.
  void expire() override;
  std::string metrics_text() const override;

 private:
  struct Message;
  using Task = std::function<void()>;
  struct Queued {
    std::string fields;  // the frame without its id line
    std::string key;     // idempotency key
    std::vector<std::string> topics;
    PublishDone done;
  };
  static void on_flush(evutil_socket_t, short, void* self);
  void flush_publishes();

  void on_primary(const std::string& address);  // from the sentinels
  void on_commands_ready();
  void on_commands_lost();
  void on_subscribed();
  void on_message(std::string_view payload);
  void catch_up();
  void caught_up(const redisReply* reply, const std::string& error);
  void finish_catch_up();       // delivers what was held meanwhile
  bool take(const Message& m);  // delivers it; false when a gap needs a catch-up first
  void set_newest(std::uint64_t epoch, std::uint64_t seq);
  void count_evictions(const redisReply* reply, std::size_t first);
  // Runs a script by its digest, loading it again if Redis forgot it (a restart).
  void eval(std::string_view script, const std::string& sha, std::vector<std::string> args,
            RedisClient::Done done);
  void run_replay(std::vector<TopicPattern> patterns, std::string last_id, ReplayDone done);
  void run_latest(std::vector<TopicPattern> patterns, std::size_t per_topic, EventId up_to,
                  ReplayDone done);
  void post(Task task);  // any thread: runs on the hub's loop

  event_base* base_;
  EventSink& sink_;
  HistoryConfig history_;
  HistoryStats history_stats_;
  const std::string prefix_;
  RedisClient commands_;
  RedisClient subscriber_;
  std::string publish_sha_;
  std::string read_sha_;
  std::string latest_sha_;
  std::string presence_sha_;
  std::string lease_sha_;
  std::string topics_sha_;
  const std::string node_;           // this process, in Redis's presence records
  std::vector<Queued> queued_;       // publishes of this loop turn, sent as one batch
  std::string topics_cursor_ = "0";  // where forgetting the topics whose history expired goes on
  EventPtr flush_;
  std::unique_ptr<RedisSentinel> sentinel_;  // with engine.redis.sentinels
  bool started_ = false;
  PresenceListener presence_leaves_;

  // Where this node's delivery stands (hub thread).
  bool first_sync_done_ = false;
  std::string epoch_text_;  // as Redis has it; "" while Redis has none
  std::uint64_t epoch_ = 0;
  std::uint64_t delivered_ = 0;  // seq of the last event handed to the sink
  std::uint64_t seen_ = 0;       // the highest seq this node has seen, delivered or not
  bool synced_ = false;          // live messages may be delivered as they come
  bool catching_up_ = false;
  std::vector<std::string> held_;  // messages that arrived while catching up
  std::vector<Task> waiting_;      // reads asked for while Redis was unreachable

  mutable std::mutex newest_mutex_;
  EventId newest_;  // GUARDED_BY(newest_mutex_)

  std::mutex tasks_mutex_;
  std::vector<Task> tasks_;  // GUARDED_BY(tasks_mutex_)
  LoopWakeup wakeup_;
};

}  // namespace sidecar
