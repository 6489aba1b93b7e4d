// What every publisher shares: the options, pacing (--rate), the payload and topic of each
// event, reply accounting, the reply timeout, signals and the progress line. A target (the
// sidecar's socket, Nchan over HTTP) supplies only how bytes reach the server.
//
// Thread contract: single-threaded; run() owns the calling thread until the run ends.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sidecar/net/libevent.hpp"
#include "tools/loadgen/http_url.hpp"
#include "tools/loadgen/index_template.hpp"
#include "tools/loadgen/run_control.hpp"
#include "tools/loadgen/topic_picker.hpp"

namespace loadgen {

struct PublishOptions {
  enum class Target { kSidecarSocket, kNchanHttp };
  Target target = Target::kSidecarSocket;
  std::string target_text;  // as given, for the report
  std::string socket_path;  // kSidecarSocket
  HttpUrl base;             // kNchanHttp: scheme, host, port, path prefix
  sockaddr_in server{};     // kNchanHttp: resolved base.host
  IndexTemplate topics;     // {i} becomes the topic index
  uint64_t topic_count = 1;
  uint64_t events = 1000;
  double rate = 0;    // events per second; 0 = back to back
  size_t size = 128;  // bytes of data per event
  bool random_topics = false;
  uint64_t seed = 1;
  // Number each topic's events 1, 2, 3, ... in their data (append_sequenced_payload), so
  // subscribers can check that none is lost or repeated. One publisher per topic, then.
  bool sequence = false;
  uint32_t http_connections = 4;  // kNchanHttp: parallel keep-alive connections
  double timeout_s = 60;          // wait for replies this long after the last event is sent
  bool progress = true;
};

struct PublishStats {
  uint64_t sent = 0;
  uint64_t ok = 0;
  uint64_t errors = 0;
  uint64_t subscribers_total = 0;  // sum of the sidecar's "subscribers" replies
  uint64_t reconnects = 0;         // kNchanHttp: connections the server closed and we reopened
  std::vector<std::string> error_samples;  // the first few error replies, verbatim
  // Send stamps (CLOCK_REALTIME ns) of the first and the last event; 0 before the first.
  int64_t first_stamp_ns = 0;
  int64_t last_stamp_ns = 0;
  int64_t start_mono = 0;
  int64_t last_send_mono = 0;
  int64_t end_mono = 0;
  bool timed_out = false;
  bool interrupted = false;
};

class Publisher : private RunControl::Owner {
 public:
  explicit Publisher(PublishOptions options);
  virtual ~Publisher();
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  // Publishes options.events events and waits for their replies. False with `error` only when
  // the target cannot be reached or the loop cannot be set up; everything after is counted.
  bool run(std::string& error);
  const PublishStats& stats() const { return stats_; }

 protected:
  // Connects to the target and registers its events on base().
  virtual bool open(std::string& error) = 0;
  // Sends what is due now (see due()); called at start, on every pacing tick, and by the target
  // itself when it can send again.
  virtual void pump() = 0;

  // Targets keep their events in their own members, which are destroyed before this base
  // class's base_: freeing an event touches its base.
  event_base* base() const { return base_.get(); }
  const PublishOptions& options() const { return options_; }
  // Events that may have been sent by now: all of them at rate 0, else as paced by --rate.
  uint64_t due() const;
  bool all_sent() const { return stats_.sent == options_.events; }
  // The topic of the next event, appended to `out`.
  void append_next_topic(std::string& out);
  // The data of that event: stamped now (see stamp()), numbered with --sequence, --size long.
  void append_data(std::string& out);
  // The send stamp of the next event: the realtime clock now, remembered for the report.
  int64_t stamp();
  // Records one event as handed to the target.
  void note_sent();
  // Records one reply; `error_text` is kept as a sample for the first few errors.
  void note_reply(bool ok, std::string_view error_text = {}, uint64_t subscribers = 0);
  void note_reconnect() { ++stats_.reconnects; }
  // Ends the run with an error that is not one event's (the connection to the target was lost).
  void abort_run(std::string_view why);
  void stop();

 private:
  static void on_tick(evutil_socket_t, short, void* arg);
  void on_progress() override;
  void on_end(bool timed_out) override;
  void print_progress();

  PublishOptions options_;
  PublishStats stats_;
  TopicPicker picker_;
  uint64_t topic_index_ = 0;        // of the event being built
  std::vector<uint64_t> sequence_;  // --sequence: the last number given, per topic index
  sidecar::EventBasePtr base_;
  sidecar::EventPtr tick_ev_;
  RunControl control_;
  uint64_t last_progress_sent_ = 0;
  int64_t last_progress_mono_ = 0;
  bool stopping_ = false;
};

}  // namespace loadgen
