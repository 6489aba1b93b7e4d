#include "sidecar/admin/process_metrics.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

#include "sidecar/core/prometheus_text.hpp"

using namespace sidecar;

namespace {

// Descriptors open in this process, counted without /proc: every number fcntl knows.
std::uint64_t fds_by_probing() {
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  auto top = static_cast<int>(std::min<rlim_t>(nofile.rlim_cur, 1 << 16));
  std::uint64_t open = 0;
  for (int fd = 0; fd < top; ++fd) {
    if (fcntl(fd, F_GETFD) != -1) ++open;
  }
  return open;
}

double seconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

double rusage_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// The start time the way client libraries compute it: /proc/stat's btime (whole seconds) plus
// the start ticks of /proc/self/stat.
double start_time_from_btime(const ProcStat& stat) {
  std::ifstream in("/proc/stat");
  std::string line;
  double btime = 0;
  while (std::getline(in, line)) {
    if (line.rfind("btime ", 0) == 0) btime = std::stod(line.substr(6));
  }
  REQUIRE(btime > 0);
  return btime + static_cast<double>(stat.start_ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace

TEST_CASE("parse_proc_stat: the fields after the command name", "[process_metrics]") {
  // A real line's shape (proc(5)), its command name holding spaces and parentheses.
  std::string line =
      "4242 (sse (side) car) S 1 4242 4242 0 -1 4194560 1200 0 3 0 "
      "731 265 0 0 20 0 5 0 98765 123456789 3210 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 "
      "17 1 0 0 0 0 0\n";
  auto stat = parse_proc_stat(line);
  REQUIRE(stat);
  CHECK(stat->utime_ticks == 731);
  CHECK(stat->stime_ticks == 265);
  CHECK(stat->start_ticks == 98765);
  CHECK(stat->vsize_bytes == 123456789);
  CHECK(stat->rss_pages == 3210);
}

TEST_CASE("parse_proc_stat: refuses what is not a stat line", "[process_metrics]") {
  CHECK_FALSE(parse_proc_stat(""));
  CHECK_FALSE(parse_proc_stat("4242 sse-sidecar S 1 2 3"));            // no parentheses
  CHECK_FALSE(parse_proc_stat("4242 (sse-sidecar) S 1 4242 4242 0"));  // cut short
  CHECK_FALSE(
      parse_proc_stat("4242 (x) S 1 4242 4242 0 -1 4194560 1200 0 3 0 "
                      "-7 265 0 0 20 0 5 0 98765 123456789 3210"));  // negative utime
}

TEST_CASE("add_stat_figures: the families' units", "[process_metrics]") {
  ProcStat stat{731, 265, 98765, 123456789, 3210};
  ProcessSample s;
  add_stat_figures(s, stat, 100, 4096, 1733000000.0);
  CHECK(s.resident_bytes == 3210u * 4096u);
  CHECK(s.virtual_bytes == 123456789u);
  REQUIRE(s.cpu_seconds);
  CHECK(*s.cpu_seconds == Approx(9.96));  // user and system time
  REQUIRE(s.start_time_seconds);
  CHECK(*s.start_time_seconds == Approx(1733000987.65).epsilon(1e-12));
  CHECK_FALSE(s.open_fds);  // not from stat

  // To the tick: the boot time's own fraction does not show beyond it.
  ProcessSample rounded;
  add_stat_figures(rounded, stat, 100, 4096, 1733000000.123456);
  std::string line;
  append_metric_sample_real(line, "x", *rounded.start_time_seconds);
  CHECK(line == "x 1733000987.77\n");

  ProcessSample without_boot;
  add_stat_figures(without_boot, stat, 250, 4096, std::nullopt);
  CHECK(without_boot.cpu_seconds == Approx(3.984));
  CHECK_FALSE(without_boot.start_time_seconds);

  ProcessSample no_clock;
  add_stat_figures(no_clock, stat, -1, 4096, 1733000000.0);  // sysconf failed
  CHECK_FALSE(no_clock.cpu_seconds);
  CHECK_FALSE(no_clock.resident_bytes);
}

TEST_CASE("process sample of this process", "[process_metrics]") {
  ProcessSample before = read_process_sample();
  REQUIRE(before.open_fds);
  // The listing's own descriptor is not counted: the figure is what is open around it.
  CHECK(*before.open_fds == fds_by_probing());
  std::array<int, 3> extra{};
  for (int& fd : extra) fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ProcessSample with = read_process_sample();
  for (int fd : extra) close(fd);
  REQUIRE(with.open_fds);
  CHECK(*with.open_fds == *before.open_fds + 3);

  rlimit nofile{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &nofile) == 0);
  CHECK(before.max_fds == nofile.rlim_cur);

  REQUIRE(before.resident_bytes);
  REQUIRE(before.virtual_bytes);
  CHECK(*before.resident_bytes > 0);
  CHECK(*before.resident_bytes % static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE)) == 0);
  CHECK(*before.resident_bytes < *before.virtual_bytes);

  // The kernel's CPU accounting, in ticks: no more than getrusage says after the read, and at
  // most a tick less than it said before it.
  double rusage_before = rusage_cpu_seconds();
  ProcessSample cpu = read_process_sample();
  double rusage_after = rusage_cpu_seconds();
  REQUIRE(cpu.cpu_seconds);
  double tick = 1.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
  CHECK(*cpu.cpu_seconds <= rusage_after + tick);
  CHECK(*cpu.cpu_seconds >= rusage_before - 2 * tick);

  // The start time agrees with the clients' way of computing it (btime is whole seconds) and
  // lies in the past.
  REQUIRE(before.start_time_seconds);
  std::ifstream in("/proc/self/stat");
  std::stringstream text;
  text << in.rdbuf();
  auto stat = parse_proc_stat(text.str());
  REQUIRE(stat);
  CHECK(std::abs(*before.start_time_seconds - start_time_from_btime(*stat)) <= 1.0 + tick);
  auto now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch());
  CHECK(*before.start_time_seconds <= now.count());
}

TEST_CASE("process metrics text: the client libraries' families", "[process_metrics]") {
  ProcessSample s;
  s.open_fds = 12;
  s.max_fds = 524288;
  s.resident_bytes = 4096000;
  s.virtual_bytes = 123456789;
  s.cpu_seconds = 7.31;
  s.start_time_seconds = 1733123456.12;
  CHECK(render_process_metrics(s) ==
        "# HELP process_open_fds Number of open file descriptors.\n"
        "# TYPE process_open_fds gauge\n"
        "process_open_fds 12\n"
        "# HELP process_max_fds Maximum number of open file descriptors.\n"
        "# TYPE process_max_fds gauge\n"
        "process_max_fds 524288\n"
        "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
        "# TYPE process_resident_memory_bytes gauge\n"
        "process_resident_memory_bytes 4096000\n"
        "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
        "# TYPE process_virtual_memory_bytes gauge\n"
        "process_virtual_memory_bytes 123456789\n"
        "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
        "# TYPE process_cpu_seconds_total counter\n"
        "process_cpu_seconds_total 7.31\n"
        "# HELP process_start_time_seconds Start time of the process since unix epoch in "
        "seconds.\n"
        "# TYPE process_start_time_seconds gauge\n"
        "process_start_time_seconds 1733123456.12\n");
}

TEST_CASE("process metrics text: a figure not read is left out", "[process_metrics]") {
  ProcessSample s;
  s.open_fds = 3;
  s.cpu_seconds = 0.0;
  std::string text = render_process_metrics(s);
  CHECK(text.find("process_open_fds 3\n") != std::string::npos);
  CHECK(text.find("process_cpu_seconds_total 0\n") != std::string::npos);
  CHECK(text.find("process_max_fds") == std::string::npos);
  CHECK(text.find("process_start_time_seconds") == std::string::npos);
  CHECK(render_process_metrics(ProcessSample{}).empty());
}

TEST_CASE("real samples: shortest fixed decimal, special values", "[process_metrics]") {
  auto line = [](double v) {
    std::string out;
    append_metric_sample_real(out, "x", v);
    return out;
  };
  CHECK(line(0.1) == "x 0.1\n");
  CHECK(line(42.0) == "x 42\n");
  CHECK(line(1e-7) == "x 0.0000001\n");
  CHECK(line(1.5e15) == "x 1500000000000000\n");
  CHECK(line(NAN) == "x NaN\n");
  CHECK(line(INFINITY) == "x +Inf\n");
  CHECK(line(-INFINITY) == "x -Inf\n");
  std::string labelled;
  append_metric_sample_real(labelled, "x", 2.5, "a=\"b\"");
  CHECK(labelled == "x{a=\"b\"} 2.5\n");
}
