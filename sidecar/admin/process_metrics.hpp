// The standard process families of Prometheus client libraries (process_open_fds,
// process_max_fds, process_resident_memory_bytes, process_virtual_memory_bytes,
// process_cpu_seconds_total, process_start_time_seconds), with their names and meanings, read
// from /proc/self when /metrics is scraped. Dashboards and alerts written for any exporter
// work on the sidecar as they are.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sidecar {

// The fields of /proc/<pid>/stat (proc(5)) the families need.
struct ProcStat {
  std::uint64_t utime_ticks = 0;  // field 14: user CPU time, in clock ticks
  std::uint64_t stime_ticks = 0;  // field 15: system CPU time, in clock ticks
  std::uint64_t start_ticks = 0;  // field 22: start time, in clock ticks after the boot
  std::uint64_t vsize_bytes = 0;  // field 23: virtual memory size
  std::uint64_t rss_pages = 0;    // field 24: resident set size
};

// Parses the one line of /proc/<pid>/stat; nullopt when it is not such a line. The command
// name (field 2) is in parentheses and may itself hold spaces and ')', so the fields after it
// are counted from the last ')'.
std::optional<ProcStat> parse_proc_stat(std::string_view line);

// The process's figures at one moment. A figure that could not be read (no /proc) is empty,
// and its family is left out of the exposition, as client libraries do.
struct ProcessSample {
  std::optional<std::uint64_t> open_fds;        // descriptors open now
  std::optional<std::uint64_t> max_fds;         // the soft RLIMIT_NOFILE
  std::optional<std::uint64_t> resident_bytes;  // resident memory
  std::optional<std::uint64_t> virtual_bytes;   // virtual memory
  std::optional<double> cpu_seconds;            // user and system CPU time since start
  std::optional<double> start_time_seconds;     // start, in seconds since the Unix epoch
};

// Sets the figures /proc/<pid>/stat holds, in the families' units: `ticks_per_second` is
// sysconf(_SC_CLK_TCK), `page_bytes` sysconf(_SC_PAGESIZE), `boot_time_seconds` the
// wall-clock time of the boot (the start time stays empty without it).
void add_stat_figures(ProcessSample& sample, const ProcStat& stat, long ticks_per_second,
                      long page_bytes, std::optional<double> boot_time_seconds);

// Reads the figures of this process now: a listing of /proc/self/fd, getrlimit and
// /proc/self/stat.
ProcessSample read_process_sample();

// HELP, TYPE and the sample of each figure present, in the Prometheus text format.
std::string render_process_metrics(const ProcessSample& sample);

}  // namespace sidecar
