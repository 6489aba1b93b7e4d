#include "sidecar/admin/metrics_text.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace sidecar;

namespace {

// The Prometheus text format (version 0.0.4), read back: what a scraper would see.
struct Exposition {
  std::map<std::string, std::string> help;     // family -> help text
  std::map<std::string, std::string> type;     // family -> counter | gauge
  std::vector<std::string> families;           // in order of their TYPE lines
  std::map<std::string, std::string> samples;  // `name{labels}` -> value as written
  std::vector<std::string> problems;           // format violations, for the failure message
};

bool valid_name(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

// `name="value"` pairs separated by commas; values without quotes, backslashes or newlines.
bool valid_labels(std::string_view labels) {
  while (!labels.empty()) {
    auto eq = labels.find("=\"");
    if (eq == std::string_view::npos || !valid_name(labels.substr(0, eq))) return false;
    auto close = labels.find('"', eq + 2);
    if (close == std::string_view::npos) return false;
    if (labels.substr(eq + 2, close - eq - 2).find('\\') != std::string_view::npos) return false;
    labels.remove_prefix(close + 1);
    if (labels.empty()) break;
    if (labels[0] != ',') return false;
    labels.remove_prefix(1);
  }
  return true;
}

Exposition parse(const std::string& text) {
  Exposition e;
  if (text.empty() || text.back() != '\n') e.problems.push_back("text does not end with newline");
  std::istringstream in(text);
  std::string line;
  std::set<std::string> sampled;  // families that already had samples
  std::string current;            // family of the last TYPE line
  while (std::getline(in, line)) {
    if (line.empty()) {
      e.problems.push_back("empty line");
    } else if (line.rfind("# HELP ", 0) == 0) {
      auto rest = line.substr(7);
      auto space = rest.find(' ');
      std::string name = rest.substr(0, space);
      if (e.help.count(name)) e.problems.push_back("second HELP for " + name);
      if (space == std::string::npos || space + 1 >= rest.size()) {
        e.problems.push_back("HELP without text for " + name);
      } else {
        e.help[name] = rest.substr(space + 1);
      }
    } else if (line.rfind("# TYPE ", 0) == 0) {
      auto rest = line.substr(7);
      auto space = rest.find(' ');
      std::string name = rest.substr(0, space);
      std::string type = space == std::string::npos ? "" : rest.substr(space + 1);
      if (e.type.count(name)) e.problems.push_back("second TYPE for " + name);
      if (sampled.count(name)) e.problems.push_back("TYPE after samples of " + name);
      if (!e.help.count(name)) e.problems.push_back("TYPE without HELP before it: " + name);
      if (type != "counter" && type != "gauge") e.problems.push_back("odd type: " + line);
      if (!valid_name(name)) e.problems.push_back("invalid name: " + name);
      e.type[name] = type;
      e.families.push_back(name);
      current = name;
    } else if (line[0] == '#') {
      e.problems.push_back("unexpected comment: " + line);
    } else {
      auto space = line.rfind(' ');
      if (space == std::string::npos) {
        e.problems.push_back("sample without value: " + line);
        continue;
      }
      std::string key = line.substr(0, space);
      std::string value = line.substr(space + 1);
      std::string name = key.substr(0, key.find('{'));
      if (auto brace = key.find('{'); brace != std::string::npos) {
        if (key.back() != '}' ||
            !valid_labels(std::string_view(key).substr(brace + 1, key.size() - brace - 2))) {
          e.problems.push_back("malformed labels: " + line);
        }
      }
      if (name != current) e.problems.push_back("sample outside its family: " + line);
      if (value.empty() || value.find_first_not_of("0123456789") != std::string::npos) {
        e.problems.push_back("value is not a whole number: " + line);
      }
      if (e.samples.count(key)) e.problems.push_back("repeated sample: " + key);
      sampled.insert(name);
      e.samples[key] = value;
    }
  }
  return e;
}

// Every counter set to a different value, so a sample reading the wrong counter shows. The
// stream workers' counters are split over two workers: each sample must be their sum.
struct Known {
  Metrics metrics;
  HistoryStats history{61, 62, 63, 64, {70, 71, 72, 73, 74}, {80, 81, 82, 83, 84}};

  Known() {
    Metrics& m = metrics;
    StreamStats& w0 = m.streams.emplace_back();
    StreamStats& w1 = m.streams.emplace_back();
    m.connections_open = 1;
    w0.connections_total.add(1);
    w1.connections_total.add(1);
    for (std::size_t i = 0; i < w0.closed.size(); ++i) {
      w0.closed[i].add(100);
      w1.closed[i].add(i);
    }
    m.events_published = 3;
    w0.events_delivered.add(3);
    w1.events_delivered.add(1);
    w0.events_dropped.add(2);
    w1.events_dropped.add(3);
    w0.bytes_sent.add(6);
    w0.buffered_bytes.add(10);
    w1.buffered_bytes.add(7);
    for (std::size_t i = 0; i < m.ingest_errors.size(); ++i) m.ingest_errors[i] = 200 + i;
    m.publisher_connections = 7;
    m.publisher_paused_replies = 21;
    m.publisher_paused_engine = 22;
    for (std::size_t i = 0; i < m.publisher_closed.size(); ++i) m.publisher_closed[i] = 300 + i;
    w1.limited_ip_connections.add(8);
    w0.limited_ip_rate.add(4);
    w1.limited_ip_rate.add(5);
    w0.limited_subject_connections.add(10);
    m.presence_joins = 11;
    m.presence_leaves = 12;
    m.presence_webhook_batches = 13;
    m.presence_webhook_failures = 14;
    m.presence_webhook_dropped = 15;
    m.presence_webhook_queued = 16;
    m.worker_queue_overflows = 18;
    w1.tls_open.add(1);
    for (std::size_t i = 0; i < w0.tls_handshakes.size(); ++i) {
      w0.tls_handshakes[i].add(400);
      w1.tls_handshakes[i].add(i);
    }
    // HTTP/2: split over both workers, so each sample is their sum.
    w0.h2_open.add(1);
    w1.h2_open.add(1);
    for (std::size_t i = 0; i < w0.streams_open.size(); ++i) {
      w0.streams_open[i].add(500);
      w1.streams_open[i].add(i);
    }
    for (std::size_t i = 0; i < w0.h2_resets.size(); ++i) {
      w0.h2_resets[i].add(600);
      w1.h2_resets[i].add(i);
      w0.h2_goaways[i].add(700);
      w1.h2_goaways[i].add(i);
    }
  }
};

std::string problems_of(const Exposition& e) {
  std::string out;
  for (const auto& p : e.problems) out += p + "\n";
  return out;
}

}  // namespace

TEST_CASE("metrics text is well-formed Prometheus exposition", "[metrics_text]") {
  Known k;
  Exposition e = parse(render_metrics(k.metrics, k.history));
  INFO(problems_of(e));
  CHECK(e.problems.empty());
  CHECK(e.help.size() == e.type.size());
  for (const auto& [name, type] : e.type) {
    INFO(name);
    // Prometheus naming: counters and only counters end in _total.
    CHECK((type == "counter") == name.ends_with("_total"));
    CHECK(name.starts_with("sse_"));
  }
  // No family is declared without samples.
  for (const auto& family : e.families) {
    INFO(family);
    bool found = false;
    for (const auto& [key, value] : e.samples)
      found = found || key.substr(0, key.find('{')) == family;
    CHECK(found);
  }
}

TEST_CASE("metrics text: every family with its type", "[metrics_text]") {
  Known k;
  Exposition e = parse(render_metrics(k.metrics, k.history));
  std::map<std::string, std::string> expected{
      {"sse_connections_open", "gauge"},
      {"sse_connections_total", "counter"},
      {"sse_connections_closed_total", "counter"},
      {"sse_slow_consumer_disconnects_total", "counter"},
      {"sse_events_published_total", "counter"},
      {"sse_events_delivered_total", "counter"},
      {"sse_events_dropped_total", "counter"},
      {"sse_bytes_sent_total", "counter"},
      {"sse_stream_buffered_bytes", "gauge"},
      {"sse_ingest_errors_total", "counter"},
      {"sse_connections_open_by_transport", "gauge"},
      {"sse_tls_handshakes_total", "counter"},
      {"sse_streams_open_by_protocol", "gauge"},
      {"sse_h2_connections_open", "gauge"},
      {"sse_h2_stream_resets_total", "counter"},
      {"sse_h2_goaways_total", "counter"},
      {"sse_publisher_connections", "gauge"},
      {"sse_publisher_paused_total", "counter"},
      {"sse_publisher_closed_total", "counter"},
      {"sse_connections_limited_total", "counter"},
      {"sse_history_topics", "gauge"},
      {"sse_history_events", "gauge"},
      {"sse_history_bytes", "gauge"},
      {"sse_history_memory_bytes", "gauge"},
      {"sse_history_evicted_total", "counter"},
      {"sse_history_topics_forgotten_total", "counter"},
      {"sse_presence_changes_total", "counter"},
      {"sse_presence_webhook_batches_total", "counter"},
      {"sse_presence_webhook_dropped_total", "counter"},
      {"sse_presence_webhook_queue", "gauge"},
      {"sse_worker_queue_overflows_total", "counter"},
  };
  CHECK(e.type == expected);
  CHECK(e.help.at("sse_connections_open") == "Open connections on the stream listener.");
  CHECK(e.help.at("sse_connections_limited_total") ==
        "Stream connections refused with 429, by the limit that refused them.");
}

TEST_CASE("metrics text: each sample shows its own counter", "[metrics_text]") {
  Known k;
  Exposition e = parse(render_metrics(k.metrics, k.history));
  std::map<std::string, std::string> expected{
      {"sse_connections_open", "1"},
      {"sse_connections_open_by_transport{transport=\"plain\"}", "0"},
      {"sse_connections_open_by_transport{transport=\"tls\"}", "1"},
      {"sse_tls_handshakes_total{result=\"ok\"}", "400"},
      {"sse_tls_handshakes_total{result=\"timeout\"}", "401"},
      {"sse_tls_handshakes_total{result=\"protocol_version\"}", "402"},
      {"sse_tls_handshakes_total{result=\"no_shared_cipher\"}", "403"},
      {"sse_tls_handshakes_total{result=\"alpn\"}", "404"},
      {"sse_tls_handshakes_total{result=\"not_tls\"}", "405"},
      {"sse_tls_handshakes_total{result=\"closed\"}", "406"},
      {"sse_tls_handshakes_total{result=\"other\"}", "407"},
      {"sse_streams_open_by_protocol{protocol=\"h1\"}", "500"},
      {"sse_streams_open_by_protocol{protocol=\"h1+tls\"}", "501"},
      {"sse_streams_open_by_protocol{protocol=\"h2\"}", "502"},
      {"sse_streams_open_by_protocol{protocol=\"h2c\"}", "503"},
      {"sse_h2_connections_open", "2"},
      {"sse_h2_stream_resets_total{reason=\"no_error\"}", "600"},
      {"sse_h2_stream_resets_total{reason=\"protocol_error\"}", "601"},
      {"sse_h2_stream_resets_total{reason=\"internal_error\"}", "602"},
      {"sse_h2_stream_resets_total{reason=\"flow_control_error\"}", "603"},
      {"sse_h2_stream_resets_total{reason=\"settings_timeout\"}", "604"},
      {"sse_h2_stream_resets_total{reason=\"stream_closed\"}", "605"},
      {"sse_h2_stream_resets_total{reason=\"frame_size_error\"}", "606"},
      {"sse_h2_stream_resets_total{reason=\"refused_stream\"}", "607"},
      {"sse_h2_stream_resets_total{reason=\"cancel\"}", "608"},
      {"sse_h2_stream_resets_total{reason=\"compression_error\"}", "609"},
      {"sse_h2_stream_resets_total{reason=\"connect_error\"}", "610"},
      {"sse_h2_stream_resets_total{reason=\"enhance_your_calm\"}", "611"},
      {"sse_h2_stream_resets_total{reason=\"inadequate_security\"}", "612"},
      {"sse_h2_stream_resets_total{reason=\"http_1_1_required\"}", "613"},
      {"sse_h2_stream_resets_total{reason=\"other\"}", "614"},
      {"sse_h2_goaways_total{reason=\"no_error\"}", "700"},
      {"sse_h2_goaways_total{reason=\"protocol_error\"}", "701"},
      {"sse_h2_goaways_total{reason=\"internal_error\"}", "702"},
      {"sse_h2_goaways_total{reason=\"flow_control_error\"}", "703"},
      {"sse_h2_goaways_total{reason=\"settings_timeout\"}", "704"},
      {"sse_h2_goaways_total{reason=\"stream_closed\"}", "705"},
      {"sse_h2_goaways_total{reason=\"frame_size_error\"}", "706"},
      {"sse_h2_goaways_total{reason=\"refused_stream\"}", "707"},
      {"sse_h2_goaways_total{reason=\"cancel\"}", "708"},
      {"sse_h2_goaways_total{reason=\"compression_error\"}", "709"},
      {"sse_h2_goaways_total{reason=\"connect_error\"}", "710"},
      {"sse_h2_goaways_total{reason=\"enhance_your_calm\"}", "711"},
      {"sse_h2_goaways_total{reason=\"inadequate_security\"}", "712"},
      {"sse_h2_goaways_total{reason=\"http_1_1_required\"}", "713"},
      {"sse_h2_goaways_total{reason=\"other\"}", "714"},
      {"sse_connections_total", "2"},
      {"sse_connections_closed_total{reason=\"client\"}", "100"},
      {"sse_connections_closed_total{reason=\"slow_consumer\"}", "101"},
      {"sse_connections_closed_total{reason=\"drain\"}", "102"},
      {"sse_connections_closed_total{reason=\"refused\"}", "103"},
      {"sse_connections_closed_total{reason=\"answered\"}", "104"},
      {"sse_connections_closed_total{reason=\"timeout\"}", "105"},
      {"sse_connections_closed_total{reason=\"expired\"}", "106"},
      {"sse_connections_closed_total{reason=\"revoked\"}", "107"},
      {"sse_connections_closed_total{reason=\"error\"}", "108"},
      {"sse_connections_closed_total{reason=\"max_duration\"}", "109"},
      {"sse_connections_closed_total{reason=\"worker_behind\"}", "110"},
      {"sse_slow_consumer_disconnects_total", "101"},  // the slow_consumer closes again
      {"sse_events_published_total", "3"},
      {"sse_events_delivered_total", "4"},
      {"sse_events_dropped_total", "5"},
      {"sse_bytes_sent_total", "6"},
      {"sse_stream_buffered_bytes", "17"},
      {"sse_ingest_errors_total{kind=\"malformed\"}", "200"},
      {"sse_ingest_errors_total{kind=\"invalid\"}", "201"},
      {"sse_ingest_errors_total{kind=\"too_large\"}", "202"},
      {"sse_ingest_errors_total{kind=\"line_too_long\"}", "203"},
      {"sse_ingest_errors_total{kind=\"unauthorized\"}", "204"},
      {"sse_ingest_errors_total{kind=\"forbidden\"}", "205"},
      {"sse_ingest_errors_total{kind=\"rate_limited\"}", "206"},
      {"sse_publisher_connections", "7"},
      {"sse_publisher_paused_total{reason=\"replies\"}", "21"},
      {"sse_publisher_paused_total{reason=\"engine\"}", "22"},
      {"sse_publisher_closed_total{reason=\"client\"}", "300"},
      {"sse_publisher_closed_total{reason=\"refused\"}", "301"},
      {"sse_publisher_closed_total{reason=\"stalled\"}", "302"},
      {"sse_publisher_closed_total{reason=\"drain\"}", "303"},
      {"sse_publisher_closed_total{reason=\"error\"}", "304"},
      {"sse_connections_limited_total{limit=\"per_ip\"}", "8"},
      {"sse_connections_limited_total{limit=\"ip_rate\"}", "9"},
      {"sse_connections_limited_total{limit=\"per_subject\"}", "10"},
      {"sse_history_topics", "61"},
      {"sse_history_events", "62"},
      {"sse_history_bytes", "63"},
      {"sse_history_memory_bytes", "64"},
      {"sse_history_evicted_total{reason=\"max_events\"}", "70"},
      {"sse_history_evicted_total{reason=\"max_bytes\"}", "71"},
      {"sse_history_evicted_total{reason=\"max_age\"}", "72"},
      {"sse_history_evicted_total{reason=\"max_total_bytes\"}", "73"},
      {"sse_history_evicted_total{reason=\"max_topics\"}", "74"},
      // Topics are forgotten by these three only (the per-topic bounds keep the topic).
      {"sse_history_topics_forgotten_total{reason=\"max_age\"}", "82"},
      {"sse_history_topics_forgotten_total{reason=\"max_total_bytes\"}", "83"},
      {"sse_history_topics_forgotten_total{reason=\"max_topics\"}", "84"},
      {"sse_presence_changes_total{action=\"join\"}", "11"},
      {"sse_presence_changes_total{action=\"leave\"}", "12"},
      {"sse_presence_webhook_batches_total{result=\"ok\"}", "13"},
      {"sse_presence_webhook_batches_total{result=\"failed\"}", "14"},
      {"sse_presence_webhook_dropped_total", "15"},
      {"sse_presence_webhook_queue", "16"},
      {"sse_worker_queue_overflows_total", "18"},
  };
  CHECK(e.samples == expected);
}

TEST_CASE("metrics text: a fresh Metrics renders every sample as 0", "[metrics_text]") {
  Metrics m;
  Exposition e = parse(render_metrics(m, HistoryStats{}));
  INFO(problems_of(e));
  CHECK(e.problems.empty());
  CHECK(e.samples.size() == 66 + 4 + 1 + 2 * 15);
  for (const auto& [key, value] : e.samples) {
    INFO(key);
    CHECK(value == "0");
  }
}

TEST_CASE("metrics text: counting helpers land on their labelled sample", "[metrics_text]") {
  Metrics m;
  StreamStats& w0 = m.streams.emplace_back();
  StreamStats& w1 = m.streams.emplace_back();
  w0.count_close(CloseReason::kRevoked);
  w1.count_close(CloseReason::kRevoked);
  w1.count_close(CloseReason::kSlow);
  m.count_ingest_error(IngestError::kRateLimited);
  m.count_publisher_close(PublisherClose::kStalled);
  m.count_publisher_close(PublisherClose::kStalled);
  Exposition e = parse(render_metrics(m, HistoryStats{}));
  CHECK(e.samples.at("sse_connections_closed_total{reason=\"revoked\"}") == "2");
  CHECK(e.samples.at("sse_connections_closed_total{reason=\"slow_consumer\"}") == "1");
  CHECK(e.samples.at("sse_slow_consumer_disconnects_total") == "1");
  CHECK(e.samples.at("sse_connections_closed_total{reason=\"client\"}") == "0");
  CHECK(e.samples.at("sse_ingest_errors_total{kind=\"rate_limited\"}") == "1");
  CHECK(e.samples.at("sse_ingest_errors_total{kind=\"malformed\"}") == "0");
  CHECK(e.samples.at("sse_publisher_closed_total{reason=\"stalled\"}") == "2");
  CHECK(e.samples.at("sse_publisher_closed_total{reason=\"client\"}") == "0");
}

TEST_CASE("metrics text: values print in full up to 2^64-1", "[metrics_text]") {
  Metrics m;
  StreamStats& w = m.streams.emplace_back();
  w.bytes_sent.add(std::numeric_limits<std::uint64_t>::max());
  w.events_delivered.add(10000000000000ULL);
  std::string text = render_metrics(m, HistoryStats{0, 0, std::size_t{1} << 40});
  CHECK(text.find("\nsse_bytes_sent_total 18446744073709551615\n") != std::string::npos);
  CHECK(text.find("\nsse_events_delivered_total 10000000000000\n") != std::string::npos);
  CHECK(text.find("\nsse_history_bytes 1099511627776\n") != std::string::npos);
  // Exact lines of one family, HELP and TYPE first.
  CHECK(text.find("# HELP sse_bytes_sent_total Bytes written to stream connections.\n"
                  "# TYPE sse_bytes_sent_total counter\n"
                  "sse_bytes_sent_total 18446744073709551615\n") != std::string::npos);
}
