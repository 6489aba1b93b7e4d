#include "sidecar/presence/presence_webhook.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "sidecar/core/crypto.hpp"
#include "sidecar/core/json_writer.hpp"
#include "sidecar/core/wall_clock.hpp"

namespace sidecar {
namespace {}  // namespace

PresenceWebhook::PresenceWebhook(event_base* base, Metrics& metrics, PresenceWebhookConfig config)
    : metrics_(metrics),
      config_(std::move(config)),
      http_(base),
      timer_(evtimer_new(base, &on_timer, this)) {}

void PresenceWebhook::configure(PresenceWebhookConfig config) {
  config_ = std::move(config);
}

void PresenceWebhook::add(const PresenceChange& change) {
  if (queue_.size() >= config_.max_queue) {
    // The app is not taking changes; keep the newest, which describe the present best.
    queue_.pop_front();
    metrics_.presence_webhook_dropped.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("presence webhook: queue full ({} changes); dropping the oldest",
                 config_.max_queue);
  }
  queue_.push_back(change);
  metrics_.presence_webhook_queued.store(queue_.size(), std::memory_order_relaxed);
  if (batch_.empty() && !sending_ && !evtimer_pending(timer_.get(), nullptr)) {
    arm(config_.batch_delay);
  }
}

void PresenceWebhook::arm(Millis delay) {
  timeval tv = to_timeval(delay);
  evtimer_add(timer_.get(), &tv);
}

void PresenceWebhook::on_timer(evutil_socket_t, short, void* self) {
  static_cast<PresenceWebhook*>(self)->send();
}

void PresenceWebhook::send() {
  if (sending_) return;
  if (batch_.empty()) {
    if (queue_.empty()) return;
    rapidjson::StringBuffer json;
    JsonWriter w(json);
    w.StartObject();
    w.Key("changes");
    w.StartArray();
    batch_changes_ = std::min(queue_.size(), config_.max_batch);
    for (std::size_t i = 0; i < batch_changes_; ++i) {
      const PresenceChange& c = queue_.front();
      w.StartObject();
      w.Key("action");
      write_string(w, to_string(c.action));
      w.Key("topic");
      write_string(w, c.topic);
      w.Key("subject");
      write_string(w, c.subject);
      w.Key("time");
      w.Uint64(c.time_ms);
      w.EndObject();
      queue_.pop_front();
    }
    w.EndArray();
    w.EndObject();
    batch_ = json.GetString();
    metrics_.presence_webhook_queued.store(queue_.size(), std::memory_order_relaxed);
  }
  HttpCall call;
  call.method = "POST";
  call.url = config_.url;
  call.timeout = config_.timeout;
  call.body = batch_;
  call.headers.emplace_back("Content-Type", "application/json");
  if (!config_.secret.empty()) {
    // Signed per attempt, so a retry after a long backoff still carries a fresh timestamp.
    std::string ts = std::to_string(unix_seconds());
    call.headers.emplace_back("X-Sidecar-Timestamp", ts);
    call.headers.emplace_back("X-Sidecar-Signature",
                              "sha256=" + to_hex(hmac_sha256(config_.secret, ts + "\n" + batch_)));
  }
  sending_ = true;
  http_.start(std::move(call), [this](const HttpResult& result) { on_result(result); });
}

void PresenceWebhook::on_result(const HttpResult& result) {
  sending_ = false;
  if (result.error.empty() && result.status >= 200 && result.status < 300) {
    metrics_.presence_webhook_batches.fetch_add(1, std::memory_order_relaxed);
    batch_.clear();
    attempt_ = 0;
    if (!queue_.empty()) arm(Millis(0));  // what gathered meanwhile is due already
    return;
  }
  metrics_.presence_webhook_failures.fetch_add(1, std::memory_order_relaxed);
  std::string why = result.error.empty() ? "status " + std::to_string(result.status) : result.error;
  if (attempt_ >= config_.max_retries) {
    spdlog::error("presence webhook {}: {}; dropping {} change(s) after {} attempt(s)", config_.url,
                  why, batch_changes_, attempt_ + 1);
    metrics_.presence_webhook_dropped.fetch_add(batch_changes_, std::memory_order_relaxed);
    batch_.clear();
    attempt_ = 0;
    if (!queue_.empty()) arm(Millis(0));
    return;
  }
  // 250 ms, 500 ms, 1 s ... up to max_backoff.
  Millis::rep factor = Millis::rep{1} << std::min<std::size_t>(attempt_, 20);
  Millis backoff = std::min(config_.max_backoff, Millis(250 * factor));
  ++attempt_;
  spdlog::warn("presence webhook {}: {}; retrying in {} ms", config_.url, why, backoff.count());
  arm(backoff);
}

}  // namespace sidecar
