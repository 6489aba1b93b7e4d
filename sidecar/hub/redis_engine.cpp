#include "sidecar/hub/redis_engine.hpp"

#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <random>

#include "sidecar/core/crypto.hpp"
#include "sidecar/core/prometheus_text.hpp"
#include "sidecar/hub/redis_scripts.hpp"
#include "sidecar/sse/sse_format.hpp"

namespace sidecar {
namespace {

constexpr const char* kUnavailable = "engine unavailable";
// Announcements that are not events start with this (an event's start with its epoch digits).
constexpr std::string_view kDisconnect = "disconnect\n";

std::string sha1_hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha1(), nullptr);
  return to_hex(std::string_view(reinterpret_cast<const char*>(digest), size));
}

bool to_u64(std::string_view text, std::uint64_t& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

std::string_view str(const redisReply* r) {
  return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
             ? std::string_view(r->str, r->len)
             : std::string_view();
}

std::uint64_t num(const redisReply* r) {
  if (!r) return 0;
  if (r->type == REDIS_REPLY_INTEGER) return static_cast<std::uint64_t>(std::max(0LL, r->integer));
  std::uint64_t v = 0;
  to_u64(str(r), v);
  return v;
}

std::vector<std::string> split_topics(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    auto sp = text.find(' ');
    out.emplace_back(text.substr(0, sp));
    if (sp == std::string_view::npos) break;
    text.remove_prefix(sp + 1);
  }
  return out;
}

// An event as Redis keeps it: its frame starts with its id line ("id: <epoch>-<seq>\n").
EventRef event_from(std::string_view frame, std::string_view topics) {
  if (!frame.starts_with("id: ")) return {};
  auto nl = frame.find('\n');
  if (nl == std::string_view::npos) return {};
  auto id = EventId::parse(frame.substr(4, nl - 4));
  if (!id) return {};
  return Event::restore(*id, split_topics(topics), frame, Event::Clock::now());
}

// {frame, topics} pairs from `first` on, as events in id order, each once.
std::vector<EventRef> events_from(const redisReply* r, std::size_t first) {
  std::vector<EventRef> events;
  for (std::size_t i = first; i + 1 < r->elements; i += 2) {
    if (auto e = event_from(str(r->element[i]), str(r->element[i + 1]))) events.push_back(e);
  }
  std::sort(events.begin(), events.end(),
            [](const EventRef& a, const EventRef& b) { return a->id().seq < b->id().seq; });
  events.erase(
      std::unique(events.begin(), events.end(),
                  [](const EventRef& a, const EventRef& b) { return a->id().seq == b->id().seq; }),
      events.end());
  return events;
}

// Publishes per script call at most: a call holds Redis for its length.
constexpr std::size_t kMaxBatch = 256;
// What the publish script returns after its per-event triples: events evicted by each of the
// five bounds, topics forgotten by three of them.
constexpr std::size_t kPublishCounts = 8;

// How long a node's presence outlives its last lease renewal (it renews every second).
constexpr std::chrono::milliseconds kPresenceLease{10000};

std::string random_node_id() {
  std::random_device random;
  std::string bytes(12, '\0');
  for (auto& b : bytes) b = static_cast<char>(random() & 0xff);
  return to_hex(bytes);
}

RedisClient::Options client_options(const RedisConfig& c) {
  return RedisClient::Options{c.address,
                              c.username,
                              c.password,
                              c.connect_timeout,
                              c.command_timeout,
                              c.reconnect_backoff,
                              c.max_reconnect_backoff};
}

}  // namespace

// One event of an announcement on the events channel: "<epoch> <seq> <frame length> <topics>\n"
// then the frame; a message holds the events of one committed batch, one after the other.
struct RedisEngine::Message {
  std::uint64_t epoch = 0;
  std::uint64_t seq = 0;
  std::string_view epoch_text;
  std::string_view topics;
  std::string_view frame;

  // Takes the first event off `payload`.
  bool parse(std::string_view& payload) {
    auto nl = payload.find('\n');
    if (nl == std::string_view::npos) return false;
    std::string_view head = payload.substr(0, nl);
    std::string_view fields[3];
    for (auto& f : fields) {
      auto sp = head.find(' ');
      if (sp == std::string_view::npos) return false;
      f = head.substr(0, sp);
      head.remove_prefix(sp + 1);
    }
    std::uint64_t length = 0;
    epoch_text = fields[0];
    topics = head;
    if (!to_u64(epoch_text, epoch) || !to_u64(fields[1], seq) || !to_u64(fields[2], length) ||
        length > payload.size() - nl - 1) {
      return false;
    }
    frame = payload.substr(nl + 1, length);
    payload.remove_prefix(nl + 1 + length);
    return true;
  }
};

RedisEngine::RedisEngine(event_base* base, const RedisConfig& redis, const HistoryConfig& history,
                         EventSink& sink)
    : base_(base),
      sink_(sink),
      history_(history),
      prefix_(redis.key_prefix),
      commands_(base, "commands", client_options(redis)),
      subscriber_(base, "subscriber", client_options(redis)),
      publish_sha_(sha1_hex(redis_scripts::kPublish)),
      read_sha_(sha1_hex(redis_scripts::kRead)),
      latest_sha_(sha1_hex(redis_scripts::kLatest)),
      presence_sha_(sha1_hex(redis_scripts::kPresence)),
      lease_sha_(sha1_hex(redis_scripts::kLease)),
      topics_sha_(sha1_hex(redis_scripts::kTopics)),
      node_(random_node_id()),
      flush_(event_new(base, -1, 0, &on_flush, this)),
      wakeup_(base, [this] {
        std::vector<Task> tasks;
        {
          std::lock_guard lock(tasks_mutex_);
          tasks.swap(tasks_);
        }
        for (auto& t : tasks) t();
      }) {
  commands_.set_on_ready([this] { on_commands_ready(); });
  commands_.set_on_lost([this](const std::string&) { on_commands_lost(); });
  subscriber_.set_subscription(prefix_ + "events",
                               [this](std::string_view payload) { on_message(payload); });
  subscriber_.set_on_ready([this] { on_subscribed(); });
  subscriber_.set_on_lost([this](const std::string&) { synced_ = false; });
  if (redis.sentinels.empty()) {
    started_ = true;
    commands_.start();
    subscriber_.start();
    return;
  }
  // The primary is not known yet: the sentinels tell, and the connections start then.
  sentinel_ = std::make_unique<RedisSentinel>(base, redis.sentinels, redis.master_name,
                                              client_options(redis),
                                              [this](const std::string& a) { on_primary(a); });
  sentinel_->start();
}

void RedisEngine::on_primary(const std::string& address) {
  commands_.set_address(address);
  subscriber_.set_address(address);
  if (!started_) {
    started_ = true;
    commands_.start();
    subscriber_.start();
    return;
  }
  // A failover: both connections move; the subscriber catches up from the new primary, and a
  // primary behind this node's sequence starts a new epoch at the next publish.
  commands_.reset("the primary moved to " + address);
  subscriber_.reset("the primary moved to " + address);
}

RedisEngine::~RedisEngine() = default;

bool RedisEngine::ready() const {
  return commands_.ready() && subscriber_.ready() && synced_;
}

EventId RedisEngine::newest() const {
  std::lock_guard lock(newest_mutex_);
  return newest_;
}

void RedisEngine::set_newest(std::uint64_t epoch, std::uint64_t seq) {
  std::lock_guard lock(newest_mutex_);
  newest_ = EventId{epoch, seq};
}

void RedisEngine::post(Task task) {
  {
    std::lock_guard lock(tasks_mutex_);
    tasks_.push_back(std::move(task));
  }
  wakeup_.notify();
}

void RedisEngine::eval(std::string_view script, const std::string& sha,
                       std::vector<std::string> args, RedisClient::Done done) {
  std::vector<std::string> command{"EVALSHA", sha, "0"};
  command.insert(command.end(), args.begin(), args.end());
  commands_.command(command, [this, script, args = std::move(args), done = std::move(done)](
                                 const redisReply* reply, const std::string& error) mutable {
    if (reply || !error.starts_with("NOSCRIPT")) return done(reply, error);
    // Redis restarted and forgot the script: EVAL sends it, and caches it again.
    std::vector<std::string> again{"EVAL", std::string(script), "0"};
    again.insert(again.end(), args.begin(), args.end());
    commands_.command(again, std::move(done));
  });
}

// ---- publishing ----

void RedisEngine::publish(EventDraft draft, PublishDone done) {
  if (!commands_.ready()) return done(PublishOutcome{false, {}, false, kUnavailable});
  Queued q;
  q.fields.reserve(draft.data.size() + draft.name.size() + 32);
  append_sse_fields(q.fields, draft.name, draft.data, draft.retry);
  q.key = std::move(draft.idempotency_key);
  q.topics = std::move(draft.topics);
  q.done = std::move(done);
  queued_.push_back(std::move(q));
  // The publishes of one loop turn (a burst read from one socket) go as one script call.
  if (queued_.size() == 1) event_active(flush_.get(), EV_TIMEOUT, 0);
  if (queued_.size() >= kMaxBatch) flush_publishes();
}

void RedisEngine::on_flush(evutil_socket_t, short, void* self) {
  static_cast<RedisEngine*>(self)->flush_publishes();
}

void RedisEngine::flush_publishes() {
  if (queued_.empty()) return;
  std::vector<Queued> batch;
  batch.swap(queued_);
  std::vector<std::string> args{prefix_,
                                epoch_text_,
                                std::to_string(seen_),
                                std::to_string(history_.max_events),
                                std::to_string(history_.max_bytes),
                                std::to_string(history_.max_age.count()),
                                std::to_string(history_.max_total_bytes),
                                std::to_string(history_.max_topics),
                                std::to_string(batch.size())};
  std::vector<PublishDone> dones;
  dones.reserve(batch.size());
  for (auto& q : batch) {
    args.push_back(std::move(q.fields));
    args.push_back(std::move(q.key));
    args.push_back(std::to_string(q.topics.size()));
    for (auto& t : q.topics) args.push_back(std::move(t));
    dones.push_back(std::move(q.done));
  }
  // Acknowledged only once Redis answered: the events are then in shared history, and announced.
  eval(redis_scripts::kPublish, publish_sha_, std::move(args),
       [this, dones = std::move(dones)](const redisReply* reply, const std::string& error) {
         if (!reply || reply->type != REDIS_REPLY_ARRAY ||
             reply->elements != 3 * dones.size() + kPublishCounts) {
           if (!error.empty() && error != kUnavailable) {
             spdlog::warn("publish through redis failed: {}", error);
           }
           for (const auto& done : dones) done(PublishOutcome{false, {}, false, kUnavailable});
           return;
         }
         for (std::size_t i = 0; i < dones.size(); ++i) {
           EventId id{num(reply->element[3 * i]), num(reply->element[3 * i + 1])};
           if (id.epoch == epoch_) seen_ = std::max(seen_, id.seq);
           dones[i](PublishOutcome{true, id, num(reply->element[3 * i + 2]) == 1, {}});
         }
         count_evictions(reply, 3 * dones.size());
       });
}

void RedisEngine::count_evictions(const redisReply* reply, std::size_t first) {
  // As the publish script lists them: events by each bound, then topics forgotten.
  constexpr Eviction kEvicted[] = {Eviction::kMaxEvents, Eviction::kMaxBytes, Eviction::kMaxAge,
                                   Eviction::kMaxTotalBytes, Eviction::kMaxTopics};
  constexpr Eviction kForgotten[] = {Eviction::kMaxAge, Eviction::kMaxTotalBytes,
                                     Eviction::kMaxTopics};
  std::size_t i = first;
  for (auto reason : kEvicted) {
    history_stats_.evicted[static_cast<std::size_t>(reason)] += num(reply->element[i++]);
  }
  for (auto reason : kForgotten) {
    history_stats_.forgotten[static_cast<std::size_t>(reason)] += num(reply->element[i++]);
  }
}

// ---- live delivery ----

void RedisEngine::on_commands_ready() {
  if (subscriber_.ready() && !synced_) catch_up();
  std::vector<Task> waiting;
  waiting.swap(waiting_);
  for (auto& t : waiting) t();
}

void RedisEngine::on_commands_lost() {
  if (sentinel_) sentinel_->ask();  // it may have moved without this node hearing of it
  // Whatever the subscriber receives meanwhile may have gaps nobody can fill until commands
  // work again: it subscribes again, and catches up, once they do.
  synced_ = false;
  subscriber_.reset("the command connection was lost");
}

void RedisEngine::on_subscribed() {
  synced_ = false;
  if (commands_.ready()) catch_up();
}

bool RedisEngine::disconnect(const std::string& subject, const std::string& topic) {
  if (!commands_.ready()) return false;
  commands_.command(
      {"PUBLISH", prefix_ + "events", std::string(kDisconnect) + subject + "\n" + topic},
      [](const redisReply*, const std::string& error) {
        if (!error.empty()) spdlog::warn("redis: disconnect not announced: {}", error);
      });
  return true;
}

void RedisEngine::on_message(std::string_view payload) {
  if (payload.starts_with(kDisconnect)) {
    // Not an event: it takes no place in the sequence, and acts at once.
    payload.remove_prefix(kDisconnect.size());
    auto nl = payload.find('\n');
    if (nl != std::string_view::npos) {
      sink_.disconnect(std::string(payload.substr(0, nl)), std::string(payload.substr(nl + 1)));
    }
    return;
  }
  while (!payload.empty()) {
    std::string_view rest = payload;
    Message m;
    if (!m.parse(rest)) {
      spdlog::warn("redis: an announcement that is not an event; ignored");
      return;
    }
    std::string_view one = payload.substr(0, payload.size() - rest.size());
    payload = rest;
    if (!synced_ || catching_up_) {
      held_.emplace_back(one);
    } else if (!take(m)) {
      held_.emplace_back(one);  // and the rest of the message after it, while catching up
      catch_up();
    }
  }
}

bool RedisEngine::take(const Message& m) {
  if (m.epoch != epoch_) {
    if (epoch_ != 0) {
      // Redis lost data or fell behind: whatever this node had not received is unknowable.
      spdlog::warn("redis: ids moved from epoch {} to {}; streams are told they missed events",
                   epoch_, m.epoch);
      sink_.missed({}, EventId{m.epoch, m.seq - 1});
    }
    epoch_ = m.epoch;
    epoch_text_ = std::string(m.epoch_text);
    delivered_ = m.seq - 1;
    seen_ = m.seq;  // what this node saw counts under the epoch it saw it in
  }
  if (m.seq <= delivered_) return true;       // had it already (from a catch-up)
  if (m.seq != delivered_ + 1) return false;  // a gap: read it back first
  EventRef event = event_from(m.frame, m.topics);
  if (!event) return true;
  delivered_ = m.seq;
  seen_ = std::max(seen_, m.seq);
  set_newest(epoch_, delivered_);
  sink_.deliver(event);
  return true;
}

void RedisEngine::catch_up() {
  if (catching_up_) return;
  catching_up_ = true;
  synced_ = true;  // messages are held until the catch-up is in
  if (!first_sync_done_) {
    // First sync: live delivery starts after what Redis has now.
    commands_.command({"MGET", prefix_ + "epoch", prefix_ + "seq"},
                      [this](const redisReply* reply, const std::string& error) {
                        if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
                          catching_up_ = false;
                          synced_ = false;
                          subscriber_.reset("cannot read the sequence: " + error);
                          return;
                        }
                        first_sync_done_ = true;
                        epoch_text_ = std::string(str(reply->element[0]));
                        epoch_ = 0;
                        to_u64(epoch_text_, epoch_);
                        delivered_ = num(reply->element[1]);
                        seen_ = std::max(seen_, delivered_);
                        set_newest(epoch_, delivered_);
                        finish_catch_up();
                      });
    return;
  }
  eval(redis_scripts::kRead, read_sha_,
       {prefix_, epoch_text_, std::to_string(delivered_), "catchup", "0", ""},
       [this](const redisReply* reply, const std::string& error) { caught_up(reply, error); });
}

void RedisEngine::caught_up(const redisReply* reply, const std::string& error) {
  if (reply) {
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 4) {
      reply = nullptr;
    } else {
      std::string epoch_text(str(reply->element[0]));
      std::uint64_t epoch = 0;
      to_u64(epoch_text, epoch);
      std::uint64_t seq = num(reply->element[1]);
      bool lost = num(reply->element[2]) != 0;
      if (lost) {
        // Another epoch, or Redis is behind this node: nothing can be read back. Delivery
        // goes on from where Redis is now.
        spdlog::warn("redis: history does not cover what this node missed; streams are told");
        sink_.missed({}, EventId{epoch, seq});
        if (epoch != epoch_) seen_ = 0;  // counted under the new epoch from here
        delivered_ = seq;
      } else {
        std::size_t gaps = num(reply->element[3]);
        std::vector<std::string> topics;
        bool every_topic = false;  // "" stands for topics Redis forgot: any could be one
        for (std::size_t i = 0; i < gaps && 4 + i < reply->elements; ++i) {
          topics.emplace_back(str(reply->element[4 + i]));
          every_topic = every_topic || topics.back().empty();
        }
        for (const auto& e : events_from(reply, 4 + gaps)) {
          if (e->id().seq <= delivered_) continue;
          sink_.deliver(e);
          delivered_ = e->id().seq;
        }
        if (every_topic) topics.clear();
        if (gaps > 0) sink_.missed(topics, EventId{epoch, seq});
      }
      epoch_ = epoch;
      epoch_text_ = epoch_text;
      if (!lost) delivered_ = std::max(delivered_, seq);
      seen_ = std::max(seen_, delivered_);
      set_newest(epoch_, delivered_);
    }
  }
  if (!reply) {
    catching_up_ = false;
    synced_ = false;
    spdlog::warn("redis: catching up failed: {}", error.empty() ? "unexpected reply" : error);
    subscriber_.reset("catching up failed");
    return;
  }
  finish_catch_up();
}

void RedisEngine::finish_catch_up() {
  catching_up_ = false;
  // What arrived meanwhile, in order; a new gap starts another catch-up.
  std::vector<std::string> held;
  held.swap(held_);
  for (std::size_t i = 0; i < held.size(); ++i) {
    Message m;
    std::string_view one = held[i];
    if (!m.parse(one)) continue;
    if (!take(m)) {
      held_.assign(held.begin() + static_cast<std::ptrdiff_t>(i), held.end());
      return catch_up();
    }
  }
}

// ---- resume ----

void RedisEngine::replay(const std::vector<TopicPattern>& patterns, std::string_view last_id,
                         ReplayDone done) {
  post([this, patterns = std::vector<TopicPattern>(patterns), last = std::string(last_id),
        done = std::move(done)]() mutable {
    run_replay(std::move(patterns), std::move(last), std::move(done));
  });
}

void RedisEngine::run_replay(std::vector<TopicPattern> patterns, std::string last_id,
                             ReplayDone done) {
  auto id = EventId::parse(last_id);
  if (!id) return done(Replay{true, {}, newest()});
  if (!commands_.ready()) {
    // Answered once Redis is back: the stream waits, with heartbeats, rather than being told
    // it missed events that Redis still has.
    waiting_.push_back([this, patterns = std::move(patterns), last_id = std::move(last_id),
                        done = std::move(done)]() mutable {
      run_replay(std::move(patterns), std::move(last_id), std::move(done));
    });
    return;
  }
  std::vector<std::string> exact;
  std::vector<std::string> stems;
  for (const auto& p : patterns) {
    (p.is_wildcard() ? stems : exact).emplace_back(p.stem());
  }
  std::vector<std::string> args{prefix_, std::to_string(id->epoch), std::to_string(id->seq),
                                "replay", std::to_string(exact.size())};
  args.insert(args.end(), exact.begin(), exact.end());
  args.insert(args.end(), stems.begin(), stems.end());
  eval(redis_scripts::kRead, read_sha_, std::move(args),
       [this, patterns, last_id, done = std::move(done)](const redisReply* reply,
                                                         const std::string& error) mutable {
         if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 4) {
           if (error == kUnavailable || error.empty()) {
             return run_replay(std::move(patterns), std::move(last_id), std::move(done));
           }
           spdlog::warn("resume through redis failed: {}", error);
           return done(Replay{true, {}, newest()});
         }
         EventId newest_then{num(reply->element[0]), num(reply->element[1])};
         if (num(reply->element[2]) != 0) return done(Replay{true, {}, newest_then});
         done(Replay{false, events_from(reply, 4 + num(reply->element[3])), newest_then});
       });
}

void RedisEngine::latest(const std::vector<TopicPattern>& patterns, std::size_t per_topic,
                         EventId up_to, ReplayDone done) {
  post([this, patterns = std::vector<TopicPattern>(patterns), per_topic, up_to,
        done = std::move(done)]() mutable {
    run_latest(std::move(patterns), per_topic, up_to, std::move(done));
  });
}

void RedisEngine::run_latest(std::vector<TopicPattern> patterns, std::size_t per_topic,
                             EventId up_to, ReplayDone done) {
  if (!commands_.ready()) {
    // As a resume: the stream waits, with heartbeats, for what Redis holds.
    waiting_.push_back(
        [this, patterns = std::move(patterns), per_topic, up_to, done = std::move(done)]() mutable {
          run_latest(std::move(patterns), per_topic, up_to, std::move(done));
        });
    return;
  }
  std::vector<std::string> exact;
  std::vector<std::string> stems;
  for (const auto& p : patterns) {
    (p.is_wildcard() ? stems : exact).emplace_back(p.stem());
  }
  std::vector<std::string> args{prefix_, std::to_string(up_to.epoch), std::to_string(up_to.seq),
                                std::to_string(per_topic), std::to_string(exact.size())};
  args.insert(args.end(), exact.begin(), exact.end());
  args.insert(args.end(), stems.begin(), stems.end());
  eval(redis_scripts::kLatest, latest_sha_, std::move(args),
       [this, patterns, per_topic, up_to, done = std::move(done)](
           const redisReply* reply, const std::string& error) mutable {
         if (!reply || reply->type != REDIS_REPLY_ARRAY) {
           if (error == kUnavailable || error.empty()) {
             return run_latest(std::move(patterns), per_topic, up_to, std::move(done));
           }
           // The stream goes on with live events; the latest value is a courtesy, not a debt.
           spdlog::warn("latest events through redis failed: {}", error);
           return done(Replay{false, {}, up_to});
         }
         done(Replay{false, events_from(reply, 0), up_to});
       });
}

// ---- presence ----

void RedisEngine::presence(bool join, const std::string& topic, const std::string& subject,
                           std::function<void(bool global)> done) {
  if (!commands_.ready()) {
    spdlog::warn("presence {} of {} on '{}' not shared: engine unavailable",
                 join ? "join" : "leave", subject, topic);
    return done(false);
  }
  eval(redis_scripts::kPresence, presence_sha_, {prefix_, node_, join ? "1" : "0", topic, subject},
       [done = std::move(done)](const redisReply* reply, const std::string& error) {
         if (!reply) spdlog::warn("presence not shared: {}", error);
         done(reply && num(reply) == 1);
       });
}

void RedisEngine::presence_subjects(
    const std::string& topic, std::function<void(std::optional<std::vector<std::string>>)> done) {
  commands_.command({"HKEYS", prefix_ + "pres:" + topic},
                    [done = std::move(done)](const redisReply* reply, const std::string&) {
                      if (!reply || reply->type != REDIS_REPLY_ARRAY) return done(std::nullopt);
                      std::vector<std::string> subjects;
                      for (std::size_t i = 0; i < reply->elements; ++i) {
                        subjects.emplace_back(str(reply->element[i]));
                      }
                      std::sort(subjects.begin(), subjects.end());
                      done(std::move(subjects));
                    });
}

void RedisEngine::expire() {
  // History is trimmed as events are added and idle topics expire in Redis; the lease forgets
  // expired topics a slice at a time, and says what history costs now.
  if (!commands_.ready()) return;
  eval(redis_scripts::kLease, lease_sha_,
       {prefix_, node_, std::to_string(kPresenceLease.count()), epoch_text_, std::to_string(seen_),
        topics_cursor_},
       [this](const redisReply* reply, const std::string&) {
         if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 4) return;
         topics_cursor_ = std::string(str(reply->element[0]));
         if (topics_cursor_.empty()) topics_cursor_ = "0";
         history_stats_.forgotten[static_cast<std::size_t>(Eviction::kMaxAge)] +=
             num(reply->element[1]);
         history_stats_.memory = num(reply->element[2]);
         history_stats_.topics = num(reply->element[3]);
         for (std::size_t i = 4; i + 1 < reply->elements; i += 2) {
           spdlog::info("presence: {} left '{}' (its node stopped renewing its lease)",
                        str(reply->element[i + 1]), str(reply->element[i]));
           if (presence_leaves_) {
             presence_leaves_(std::string(str(reply->element[i])),
                              std::string(str(reply->element[i + 1])));
           }
         }
       });
}

// ---- introspection ----

void RedisEngine::list_topics(TopicQuery query, TopicsDone done) {
  if (!commands_.ready()) return done(std::nullopt);
  std::vector<std::string> args{prefix_, query.prefix, std::to_string(query.limit)};
  args.insert(args.end(), query.subscribed.begin(), query.subscribed.end());
  eval(redis_scripts::kTopics, topics_sha_, std::move(args),
       [query = std::move(query), done = std::move(done)](const redisReply* reply,
                                                          const std::string& error) {
         if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2) {
           if (!error.empty() && error != kUnavailable) {
             spdlog::warn("listing topics through redis failed: {}", error);
           }
           return done(std::nullopt);
         }
         std::vector<TopicFigures> page;
         for (std::size_t i = 2; i + 3 < reply->elements; i += 4) {
           TopicFigures f;
           f.topic = std::string(str(reply->element[i]));
           f.history_events = num(reply->element[i + 1]);
           f.history_bytes = num(reply->element[i + 2]);
           f.last_publish_ms = num(reply->element[i + 3]);
           page.push_back(std::move(f));
         }
         done(merge_topic_pages(std::move(page), num(reply->element[0]), query.subscribed,
                                num(reply->element[1]), query.limit));
       });
}

// ---- metrics ----

std::string RedisEngine::metrics_text() const {
  std::string out;
  auto family = [&](const char* name, const char* type, const char* help) {
    append_metric_family(out, name, type, help);
  };
  auto sample = [&](const char* name, std::uint64_t value, std::string_view labels = {}) {
    append_metric_sample(out, name, value, labels);
  };
  family("sse_engine_up", "gauge",
         "1 when the shared engine (Redis) takes publishes and delivers live events, else 0.");
  sample("sse_engine_up", ready() ? 1 : 0);
  family("sse_engine_commands_total", "counter", "Commands sent to Redis.");
  sample("sse_engine_commands_total", commands_.commands());
  family("sse_engine_errors_total", "counter", "Failed Redis commands and lost Redis connections.");
  sample("sse_engine_errors_total", commands_.errors() + subscriber_.errors());
  family("sse_engine_connects_total", "counter", "Connections made to Redis, by role.");
  sample("sse_engine_connects_total", commands_.connects(), "role=\"commands\"");
  sample("sse_engine_connects_total", subscriber_.connects(), "role=\"subscriber\"");
  family("sse_engine_round_trip_microseconds", "gauge", "Round trip of the last Redis reply.");
  sample("sse_engine_round_trip_microseconds", commands_.last_round_trip_us());
  return out;
}

}  // namespace sidecar
