#include "sidecar/admin/process_metrics.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <charconv>
#include <cmath>
#include <ctime>
#include <memory>
#include <string_view>

#include "sidecar/core/c_deleter.hpp"
#include "sidecar/core/file_text.hpp"
#include "sidecar/core/prometheus_text.hpp"

namespace sidecar {
namespace {

// The next space-separated field of `rest`, consumed.
std::string_view next_field(std::string_view& rest) {
  auto start = rest.find_first_not_of(' ');
  if (start == std::string_view::npos) {
    rest = {};
    return {};
  }
  rest.remove_prefix(start);
  auto end = rest.find(' ');
  std::string_view field = rest.substr(0, end);
  rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
  return field;
}

bool to_u64(std::string_view text, std::uint64_t& value) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size();
}

// Entries of /proc/self/fd but the one the listing itself holds open.
std::optional<std::uint64_t> count_open_fds() {
  std::unique_ptr<DIR, CDeleter<closedir>> dir(opendir("/proc/self/fd"));
  if (!dir) return std::nullopt;
  std::string own = std::to_string(dirfd(dir.get()));
  std::uint64_t count = 0;
  while (dirent* entry = readdir(dir.get())) {
    std::string_view name = entry->d_name;
    if (name != "." && name != ".." && name != own) ++count;
  }
  return count;
}

// The wall-clock time of the boot, from the gap between the real and the boot clock (which
// /proc/<pid>/stat's start time counts from). Client libraries read `btime` in /proc/stat, but
// the packaged service's ProcSubset=pid hides that file. Taken once: the boot does not move,
// and a stepped wall clock should not move the start time of a running process either.
std::optional<double> boot_wall_time() {
  static const std::optional<double> boot = []() -> std::optional<double> {
    timespec real{};
    timespec since_boot{};
    if (clock_gettime(CLOCK_REALTIME, &real) != 0) return std::nullopt;
    if (clock_gettime(CLOCK_BOOTTIME, &since_boot) != 0) return std::nullopt;
    return static_cast<double>(real.tv_sec - since_boot.tv_sec) +
           static_cast<double>(real.tv_nsec - since_boot.tv_nsec) / 1e9;
  }();
  return boot;
}

void gauge(std::string& out, const char* name, const char* help,
           const std::optional<std::uint64_t>& value) {
  if (!value) return;
  append_metric_family(out, name, "gauge", help);
  append_metric_sample(out, name, *value);
}

void real(std::string& out, const char* name, const char* type, const char* help,
          const std::optional<double>& value) {
  if (!value) return;
  append_metric_family(out, name, type, help);
  append_metric_sample_real(out, name, *value);
}

}  // namespace

std::optional<ProcStat> parse_proc_stat(std::string_view line) {
  auto close = line.rfind(')');
  if (line.find('(') == std::string_view::npos || close == std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view rest = line.substr(close + 1);
  if (!rest.empty() && rest.back() == '\n') rest.remove_suffix(1);
  // By proc(5)'s numbers: the state, field 3, is the first after the name.
  std::array<std::string_view, 25> field{};
  for (std::size_t n = 3; n < field.size(); ++n) {
    field[n] = next_field(rest);
    if (field[n].empty()) return std::nullopt;
  }
  ProcStat stat;
  if (!to_u64(field[14], stat.utime_ticks) || !to_u64(field[15], stat.stime_ticks) ||
      !to_u64(field[22], stat.start_ticks) || !to_u64(field[23], stat.vsize_bytes) ||
      !to_u64(field[24], stat.rss_pages)) {
    return std::nullopt;
  }
  return stat;
}

void add_stat_figures(ProcessSample& sample, const ProcStat& stat, long ticks_per_second,
                      long page_bytes, std::optional<double> boot_time_seconds) {
  if (ticks_per_second <= 0 || page_bytes <= 0) return;
  sample.virtual_bytes = stat.vsize_bytes;
  sample.resident_bytes = stat.rss_pages * static_cast<std::uint64_t>(page_bytes);
  auto per_second = static_cast<double>(ticks_per_second);
  sample.cpu_seconds = static_cast<double>(stat.utime_ticks + stat.stime_ticks) / per_second;
  if (boot_time_seconds) {
    // To the tick, which is all the kernel's start time holds.
    double start = *boot_time_seconds + static_cast<double>(stat.start_ticks) / per_second;
    sample.start_time_seconds = std::round(start * per_second) / per_second;
  }
}

ProcessSample read_process_sample() {
  ProcessSample sample;
  sample.open_fds = count_open_fds();
  rlimit nofile{};
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0) sample.max_fds = nofile.rlim_cur;
  std::string error;
  if (auto text = read_file_text("/proc/self/stat", error)) {
    if (auto stat = parse_proc_stat(*text)) {
      add_stat_figures(sample, *stat, sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE),
                       boot_wall_time());
    }
  }
  return sample;
}

std::string render_process_metrics(const ProcessSample& s) {
  std::string out;
  gauge(out, "process_open_fds", "Number of open file descriptors.", s.open_fds);
  gauge(out, "process_max_fds", "Maximum number of open file descriptors.", s.max_fds);
  gauge(out, "process_resident_memory_bytes", "Resident memory size in bytes.", s.resident_bytes);
  gauge(out, "process_virtual_memory_bytes", "Virtual memory size in bytes.", s.virtual_bytes);
  real(out, "process_cpu_seconds_total", "counter",
       "Total user and system CPU time spent in seconds.", s.cpu_seconds);
  real(out, "process_start_time_seconds", "gauge",
       "Start time of the process since unix epoch in seconds.", s.start_time_seconds);
  return out;
}

}  // namespace sidecar
