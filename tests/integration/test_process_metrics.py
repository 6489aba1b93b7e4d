"""/metrics: the standard process families (process_*), read from the daemon's /proc/self at
each scrape, and sse_max_connections, the most streams it accepts after the descriptor cap."""

import os
import resource
import signal
import unittest

from sidecar_harness import SidecarTestCase, wait_until

PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


def proc_stat(pid):
    """The fields of /proc/PID/stat after the command name, numbered as in proc(5)."""
    with open("/proc/%d/stat" % pid) as f:
        text = f.read()
    fields = text[text.rindex(")") + 2:].split()
    return {n + 3: value for n, value in enumerate(fields)}


def boot_time():
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("btime "):
                return int(line.split()[1])
    raise AssertionError("no btime in /proc/stat")


def descriptor_cap(limit, configured):
    """What the daemon accepts under a descriptor limit: the limit less a thirty-second of it
    (at least 64), when limits.max_connections is more than that."""
    reserve = max(64, limit // 32)
    return min(configured, limit - reserve)


class ProcessMetricsTest(SidecarTestCase):
    def test_process_families_describe_the_daemon(self):
        sc = self.start_sidecar()
        pid = sc.proc.pid
        m = sc.metrics()
        soft, _ = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        self.assertEqual(m["process_max_fds"], soft)
        # The start time is the kernel's (ticks after the boot), in seconds since the epoch;
        # /proc/stat's btime is whole seconds.
        start = boot_time() + int(proc_stat(pid)[22]) / TICKS
        self.assertAlmostEqual(m["process_start_time_seconds"], start, delta=1.0 + 1 / TICKS)
        self.assertGreater(m["process_resident_memory_bytes"], 0)
        self.assertEqual(m["process_resident_memory_bytes"] % PAGE, 0)
        self.assertLess(m["process_resident_memory_bytes"], m["process_virtual_memory_bytes"])
        cpu = m["process_cpu_seconds_total"]
        self.assertGreaterEqual(cpu, 0)

        # Each stream is one more open descriptor, and the count is taken at each scrape.
        before = m["process_open_fds"]
        self.assertGreater(before, 0)
        streams = [self.stream(sc, ["public.fds"]) for _ in range(20)]
        wait_until(lambda: sc.metric("sse_connections_open") == 20, message="20 open streams")
        wait_until(lambda: sc.metric("process_open_fds") == before + 20,
                   message="20 more open descriptors (before: %d)" % before)
        for s in streams:
            s.close()
        wait_until(lambda: sc.metric("process_open_fds") == before,
                   message="the descriptors closed again (before: %d)" % before)

        # CPU time only grows: publishing and delivering events takes some.
        pub = self.publisher(sc)
        stream = self.stream(sc, ["public.cpu"])
        n = 0
        while sc.metric("process_cpu_seconds_total") <= cpu:
            for _ in range(200):
                pub.publish_ok("public.cpu", "x" * 1000)
            stream.read_events(200, timeout=30)
            n += 1
            self.assertLess(n, 100, "no CPU time counted after 20 000 events")

    def test_max_connections_is_the_configured_limit_after_the_descriptor_cap(self):
        sc = self.start_sidecar({"limits": {"max_connections": 5000}})
        soft, _ = resource.prlimit(sc.proc.pid, resource.RLIMIT_NOFILE)
        self.assertEqual(sc.metric("sse_max_connections"), descriptor_cap(soft, 5000))

        # A descriptor limit too low for it caps it, at a reload; the gauge says so, and the
        # descriptor limit itself is read at each scrape.
        resource.prlimit(sc.proc.pid, resource.RLIMIT_NOFILE, (1000, 1000))
        self.assertEqual(sc.metric("process_max_fds"), 1000)
        offset = len(sc.log())
        sc.signal(signal.SIGHUP)
        wait_until(lambda: "configuration reloaded" in sc.log()[offset:], message="the reload")
        self.assertEqual(sc.metric("sse_max_connections"), 1000 - 64)

        # A reload with a lower limit than the cap shows the configured one again.
        sc.write_config({"limits": {"max_connections": 100}})
        offset = len(sc.log())
        sc.signal(signal.SIGHUP)
        wait_until(lambda: "configuration reloaded" in sc.log()[offset:], message="the reload")
        self.assertEqual(sc.metric("sse_max_connections"), 100)


if __name__ == "__main__":
    unittest.main()
