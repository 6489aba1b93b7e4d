#include "tools/loadgen/publisher.hpp"

#include <signal.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "tools/loadgen/clock.hpp"
#include "tools/loadgen/payload.hpp"

namespace loadgen {

namespace {

constexpr size_t kMaxErrorSamples = 5;
// Below this a pacing timer costs more wakeups than it buys precision: faster rates send the
// events due at each tick together.
constexpr double kMinTickSeconds = 100e-6;

}  // namespace

Publisher::Publisher(PublishOptions options)
    : options_(std::move(options)),
      picker_(options_.topic_count, options_.random_topics, options_.seed) {
  if (options_.sequence) sequence_.assign(options_.topic_count, 0);
}

Publisher::~Publisher() = default;

bool Publisher::run(std::string& error) {
  // Precise timers (timerfd under epoll) so --rate ticks are not rounded to milliseconds.
  std::unique_ptr<event_config, sidecar::CDeleter<event_config_free>> cfg(event_config_new());
  if (cfg) event_config_set_flag(cfg.get(), EVENT_BASE_FLAG_PRECISE_TIMER);
  base_.reset(cfg ? event_base_new_with_config(cfg.get()) : nullptr);
  if (!base_) {
    error = "cannot create the event loop";
    return false;
  }
  tick_ev_.reset(event_new(base_.get(), -1, EV_PERSIST, &on_tick, this));
  if (!tick_ev_) {
    error = "cannot create loop events";
    return false;
  }
  if (!control_.start(base_.get(), *this, error) || !open(error)) return false;
  if (options_.rate > 0) {
    timeval tick = to_timeval(std::max(1.0 / options_.rate, kMinTickSeconds));
    event_add(tick_ev_.get(), &tick);
  }
  stats_.start_mono = monotonic_ns();
  last_progress_mono_ = stats_.start_mono;
  if (options_.events == 0) {
    stop();
  } else {
    pump();
  }
  if (!stopping_) event_base_dispatch(base_.get());
  stats_.end_mono = monotonic_ns();
  // A closing progress line, unless the last tick just printed one.
  if (options_.progress && stats_.end_mono - last_progress_mono_ > 100'000'000) print_progress();
  return true;
}

uint64_t Publisher::due() const {
  if (options_.rate <= 0) return options_.events;
  double elapsed_s = static_cast<double>(monotonic_ns() - stats_.start_mono) / 1e9;
  // The first event goes out at once, the next after 1/rate, and so on.
  auto paced = static_cast<uint64_t>(options_.rate * elapsed_s) + 1;
  return std::min(paced, options_.events);
}

void Publisher::append_next_topic(std::string& out) {
  topic_index_ = picker_.next();
  options_.topics.expand(topic_index_, out);
}

void Publisher::append_data(std::string& out) {
  if (sequence_.empty()) return append_payload(out, stamp(), options_.size);
  append_sequenced_payload(out, stamp(), topic_index_, ++sequence_[topic_index_], options_.size);
}

int64_t Publisher::stamp() {
  int64_t now = realtime_ns();
  if (stats_.first_stamp_ns == 0) stats_.first_stamp_ns = now;
  stats_.last_stamp_ns = now;
  return now;
}

void Publisher::note_sent() {
  ++stats_.sent;
  if (!all_sent()) return;
  stats_.last_send_mono = monotonic_ns();
  event_del(tick_ev_.get());
  if (stats_.ok + stats_.errors < options_.events) {
    control_.arm_deadline(options_.timeout_s);
  }
}

void Publisher::note_reply(bool ok, std::string_view error_text, uint64_t subscribers) {
  if (ok) {
    ++stats_.ok;
    stats_.subscribers_total += subscribers;
  } else {
    ++stats_.errors;
    if (stats_.error_samples.size() < kMaxErrorSamples)
      stats_.error_samples.emplace_back(error_text);
  }
  if (stats_.ok + stats_.errors >= options_.events) stop();
}

void Publisher::abort_run(std::string_view why) {
  if (stats_.error_samples.size() < kMaxErrorSamples) stats_.error_samples.emplace_back(why);
  stop();
}

void Publisher::stop() {
  stopping_ = true;
  if (base_) event_base_loopbreak(base_.get());
}

void Publisher::on_tick(evutil_socket_t, short, void* arg) {
  static_cast<Publisher*>(arg)->pump();
}

void Publisher::on_progress() {
  if (options_.progress) print_progress();
}

void Publisher::on_end(bool timed_out) {
  (timed_out ? stats_.timed_out : stats_.interrupted) = true;
  stop();
}

void Publisher::print_progress() {
  int64_t now = monotonic_ns();
  double interval_s = std::max(1e-9, static_cast<double>(now - last_progress_mono_) / 1e9);
  std::fprintf(stderr, "[%7.1fs] sent %llu/%llu (%.0f/s) ok %llu errors %llu\n",
               static_cast<double>(now - stats_.start_mono) / 1e9,
               static_cast<unsigned long long>(stats_.sent),
               static_cast<unsigned long long>(options_.events),
               static_cast<double>(stats_.sent - last_progress_sent_) / interval_s,
               static_cast<unsigned long long>(stats_.ok),
               static_cast<unsigned long long>(stats_.errors));
  last_progress_sent_ = stats_.sent;
  last_progress_mono_ = now;
}

}  // namespace loadgen
