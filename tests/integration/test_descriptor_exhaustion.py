"""Out of file descriptors, every listener pauses instead of spinning: the stream listener, the
admin listener and the publish socket each retry accept() a little later, the log says so a few
times rather than once per failed accept(), and service is whole again once descriptors free up."""

import os
import resource
import signal
import socket
import time
import unittest

from sidecar_harness import SidecarTestCase, wait_until

SANITIZED = os.environ.get("SIDECAR_SANITIZED", "").upper() in ("1", "ON", "TRUE", "YES")

LIMIT = 200  # descriptors the sidecar may hold in this test


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class DescriptorExhaustionTest(SidecarTestCase):
    # The sanitizers' runtime checks memory by writing it into a pipe of its own: out of
    # descriptors, that fails and it reports valid objects as invalid (a false "invalid vptr").
    @unittest.skipIf(SANITIZED, "the sanitizer runtime itself needs free descriptors")
    def test_listeners_pause_when_out_of_descriptors_and_recover(self):
        sc = self.start_sidecar({"limits": {"max_connections": 100000}})
        pub = self.publisher(sc)
        resource.prlimit(sc.proc.pid, resource.RLIMIT_NOFILE, (LIMIT, LIMIT))
        # Streams until accept() fails: the stream listener's backlog then holds the rest.
        hogs = []
        self.addCleanup(lambda: [s.close() for s in hogs])
        for _ in range(LIMIT + 50):
            s = socket.create_connection(("127.0.0.1", sc.sse_port))
            s.sendall(b"GET /events?topic=public.fd HTTP/1.1\r\nHost: x\r\n\r\n")
            hogs.append(s)
        wait_until(lambda: "stream listener: cannot accept" in sc.log(), 10,
                   message="the stream listener's pause in the log")
        # Now the admin listener and the publish socket meet the same limit.
        admin = socket.create_connection(("127.0.0.1", sc.admin_port))
        self.addCleanup(admin.close)
        admin.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        late = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(late.close)
        late.connect(sc.socket_path)
        late.sendall(b'{"topic":"public.fd","data":"late"}\n')
        wait_until(lambda: "admin listener" in sc.log() and "publish socket" in sc.log(), 10,
                   message="the admin and publish listeners' pauses in the log")
        before = cpu_seconds(sc.proc.pid)
        time.sleep(2)
        busy = cpu_seconds(sc.proc.pid) - before
        log = sc.log()
        # Retrying every 100 ms costs nothing much; spinning on accept() took a whole core.
        self.assertLess(busy, 1.0, "%.2f s of CPU in 2 s while out of descriptors" % busy)
        self.assertLess(log.count("cannot accept"), 12, "the log fills with accept failures")
        self.assertNotIn("Error from accept", log)
        # The publisher already connected goes on being served meanwhile.
        self.assertTrue(pub.publish_ok("public.fd", "still")["ok"])

        for s in hogs:
            s.close()
        hogs.clear()
        late.settimeout(10)
        self.assertIn(b'"ok":true', late.recv(4096), "the late publisher was never answered")
        admin.settimeout(10)
        self.assertTrue(admin.recv(4096).startswith(b"HTTP/1.1 200"), "/healthz never answered")
        stream = self.stream(sc, ["public.fd"])
        reply = pub.publish_ok("public.fd", "after")
        self.assertEqual(stream.next_event().id, reply["id"])

    def test_streams_leave_descriptors_for_monitoring_and_publishing(self):
        """A limits.max_connections the descriptor limit cannot hold is capped below it: past
        the cap streams get 503, and /metrics and new publishers are still served."""
        sc = self.start_sidecar({"limits": {"max_connections": 100000}})
        resource.prlimit(sc.proc.pid, resource.RLIMIT_NOFILE, (300, 300))
        offset = len(sc.log())
        sc.signal(signal.SIGHUP)  # the cap is taken again from the limit at a reload
        wait_until(lambda: "configuration reloaded" in sc.log()[offset:], 5,
                   message="the reload")
        self.assertIn("limits.max_connections (100000) is more than the descriptor limit (300)",
                      sc.log()[offset:])
        statuses = []
        hogs = []
        self.addCleanup(lambda: [s.close() for s in hogs])
        for _ in range(300):
            s = socket.create_connection(("127.0.0.1", sc.sse_port))
            s.settimeout(5)
            s.sendall(b"GET /events?topic=public.fd HTTP/1.1\r\nHost: x\r\n\r\n")
            statuses.append(s.recv(64).split(b" ")[1])
            hogs.append(s)
        self.assertEqual(statuses.count(b"503"), 64, statuses[-3:])
        self.assertEqual(statuses.count(b"200"), 300 - 64)
        self.assertEqual(sc.metric("sse_connections_open"), 300 - 64)
        pub = self.publisher(sc)
        self.assertEqual(pub.publish_ok("public.fd", "served")["subscribers"], 300 - 64)


if __name__ == "__main__":
    unittest.main()
