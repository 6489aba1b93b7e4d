"""Memory that matches the bounds: what a stalled subscriber holds, as limits.subscriber_buffer_bytes
counts it, and what it really costs in resident memory; and memory given back after a spike.

The resident-memory checks are skipped on the sanitizer build, whose allocator keeps freed memory
in quarantine by design; the bound checks run on both builds."""

import os
import time
import unittest

from sidecar_harness import SidecarTestCase, wait_until

SANITIZED = os.environ.get("SIDECAR_SANITIZED", "").upper() in ("1", "ON", "TRUE", "YES")

STALLED = 50
BOUND = 4 * 1024 * 1024  # well above what the kernel takes into a socket first
PAYLOAD = "m" * 150  # small events: a per-delivery overhead shows at its worst
FRAME_MAX = len(PAYLOAD) + 128  # id, data line and chunk framing around the payload


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


class StalledSubscriberMemoryTest(SidecarTestCase):
    def test_stalled_subscribers_stay_within_their_bound_in_counted_and_resident_memory(self):
        sc = self.start_sidecar({"limits": {"subscriber_buffer_bytes": BOUND},
                                 "history": {"max_events": 100}})
        stalled = [self.stream(sc, ["public.mem"], rcvbuf=4096) for _ in range(STALLED)]
        pub = self.publisher(sc)
        time.sleep(0.3)
        baseline = rss_kib(sc.proc.pid)

        def publish(n):
            pub.send(*[{"topic": "public.mem", "data": PAYLOAD} for _ in range(n)])
            for r in pub.read_replies(n, timeout=30):
                self.assertTrue(r["ok"], r)

        def check_bound():
            m = sc.metrics()
            buffered = m["sse_stream_buffered_bytes"]
            streams = m["sse_connections_open"]
            # Each open stream holds at most its bound plus the one event that crossed it.
            self.assertLessEqual(buffered, streams * (BOUND + FRAME_MAX), m)
            return m

        # Publish until every stalled stream crossed its bound and was dropped. The kernel takes
        # a different amount into each socket's buffers first, so they fill at different times:
        # each sample compares resident growth with the most the streams held so far.
        most_held = 0
        peak = 0
        deadline = time.monotonic() + 120
        while True:
            publish(100)
            m = check_bound()
            most_held = max(most_held, m["sse_stream_buffered_bytes"])
            growth = (rss_kib(sc.proc.pid) - baseline) * 1024
            peak = max(peak, growth)
            if not SANITIZED:
                # What they hold really costs about what the bound counts: a small multiple at
                # most (a kilobyte-per-delivery design costs ~8 times the counted bytes here).
                # The allowance covers events on their way to the workers, which a busy machine
                # lets pile up for a moment.
                self.assertLess(growth, 3 * most_held + 32 * 1024 * 1024,
                                "resident growth %d bytes, at most %d counted" % (growth, most_held))
            if m["sse_connections_open"] == 0:
                break
            self.assertLess(time.monotonic(), deadline, "stalled streams were never dropped")
        # The test filled a good part of the streams' bounds at once, or it proved nothing.
        self.assertGreater(most_held, 0.25 * STALLED * BOUND)
        m = sc.metrics()
        self.assertEqual(m["sse_slow_consumer_disconnects_total"], STALLED)
        self.assertEqual(m["sse_stream_buffered_bytes"], 0)
        for s in stalled:
            s.close()
        if not SANITIZED:
            # The spike is given back to the system at a quiet point, not kept resident.
            wait_until(lambda: (rss_kib(sc.proc.pid) - baseline) * 1024 < max(16 << 20, peak // 4),
                       timeout=10, message="resident memory to fall back after the spike")


if __name__ == "__main__":
    unittest.main()
