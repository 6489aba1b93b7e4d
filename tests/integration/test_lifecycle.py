"""Process lifecycle: SIGHUP reload (valid and invalid files) and SIGTERM/SIGINT drain."""

import os
import signal
import socket
import time
import unittest

from sidecar_harness import SidecarTestCase, SSEClient, SocketPublisher, deep_merge, wait_until


def stream_status(sc, topic):
    """Status of GET /events?topic=...; closes the connection."""
    client = SSEClient(sc.sse_port, timeout=3)
    try:
        client.request("GET", "/events?topic=" + topic)
        return client.read_head()
    finally:
        client.close()


class ReloadTest(SidecarTestCase):
    def reload(self, sc, expect):
        offset = len(sc.log())
        sc.signal(signal.SIGHUP)
        wait_until(lambda: expect in sc.log()[offset:], 5,
                   message="%r in the log after SIGHUP" % expect)
        return sc.log()[offset:]

    def test_valid_reload_keeps_streams_and_applies_to_new_ones(self):
        sc = self.start_sidecar()
        old = self.stream(sc, ["public.keep"])
        pattern = self.stream(sc, ["public.*"])
        pub = self.publisher(sc)
        self.assertEqual(stream_status(sc, "extra.x"), 401)
        hist = [pub.publish_ok("public.hist", str(i))["id"] for i in range(5)]
        self.assertEqual([e.id for e in pattern.read_events(5)], hist)

        sc.write_config(deep_merge(sc.overrides, {
            "access": {"public_topics": ["public.*", "extra.*"]},
            "history": {"max_events": 2},
            "stream": {"heartbeat_interval": "200ms"},
        }))
        log = self.reload(sc, "configuration reloaded")
        self.assertNotIn("error", log.lower())

        # Open streams stay open and keep receiving.
        reply = pub.publish_ok("public.keep", "after reload")
        self.assertEqual(old.next_event().id, reply["id"])
        self.assertEqual(pattern.next_event().id, reply["id"])
        self.assertFalse(old.eof)
        self.assertEqual(sc.metric('sse_connections_closed_total{reason="client"}'), 0)
        self.assertEqual(sc.metric('sse_connections_closed_total{reason="drain"}'), 0)
        # New streams get the new access rules.
        wait_until(lambda: stream_status(sc, "extra.x") == 200, 3, message="extra.x allowed")
        extra = self.stream(sc, ["extra.x"])
        reply = pub.publish_ok("extra.x", "now public")
        self.assertEqual(extra.next_event().id, reply["id"])
        # History limits apply at once: only the newest 2 are kept.
        resumed = self.stream(sc, ["public.hist"], headers={"Last-Event-ID": hist[0]})
        self.assertEqual(resumed.next_event().event, "sidecar.missed")
        recent = self.stream(sc, ["public.hist"], headers={"Last-Event-ID": hist[2]})
        self.assertEqual([e.id for e in recent.read_events(2)], hist[3:])
        # The new heartbeat interval reaches the existing (now idle) stream.
        old.wait_for(lambda: len(old.comments) >= 1, 3, "a heartbeat after reload")

    def test_invalid_reload_keeps_running_config(self):
        sc = self.start_sidecar()
        stream = self.stream(sc, ["public.keep"])
        pub = self.publisher(sc)
        with open(sc.config_path) as f:
            good_text = f.read()
        # A bad key, a bad value, and the change that would have opened extra.*.
        bad_text = good_text + ('access:\n  public_topics: ["public.*", "extra.*"]\n'
                                if "access:" not in good_text else "")
        bad_text = bad_text.replace('"public.*"]', '"public.*", "extra.*"]')
        lines = bad_text.rstrip("\n").split("\n")
        lines.append("history:")
        lines.append("  max_evnts: 5")
        bad_line = len(lines)
        lines.append("  max_age: forever")
        bad_value_line = len(lines)
        sc.write_config(raw_text="\n".join(lines) + "\n")
        log = self.reload(sc, "keeping the running configuration")
        self.assertIn("%s:%d:3:" % (sc.config_path, bad_line), log)
        self.assertIn("max_evnts", log)
        self.assertIn("%s:%d:" % (sc.config_path, bad_value_line), log)
        self.assertNotIn("configuration reloaded", log)
        # Still running with the old config.
        self.assertTrue(sc.alive())
        reply = pub.publish_ok("public.keep", "still here")
        self.assertEqual(stream.next_event().id, reply["id"])
        self.assertFalse(stream.eof)
        self.assertEqual(stream_status(sc, "extra.x"), 401)
        status, _, body = sc.http_publish({"topic": "public.keep", "data": "http"})
        self.assertEqual(status, 200, body)
        self.assertEqual(stream.next_event().data, "http")

        # YAML that does not parse at all.
        sc.write_config(raw_text="listen:\n  sse: [unclosed\nworkers: 2\n")
        log = self.reload(sc, "keeping the running configuration")
        self.assertRegex(log, r"%s:\d+:\d+:" % sc.config_path)
        self.assertTrue(sc.alive())
        reply = pub.publish_ok("public.keep", "after broken yaml")
        self.assertEqual(stream.next_event().id, reply["id"])

        # A missing file is reported too.
        os.unlink(sc.config_path)
        log = self.reload(sc, "keeping the running configuration")
        self.assertIn(sc.config_path, log)
        self.assertTrue(sc.alive())
        self.assertEqual(pub.publish_ok("public.keep", "x")["subscribers"], 1)

        # And a good file afterwards is taken.
        sc.write_config(raw_text=good_text)
        self.reload(sc, "configuration reloaded")
        self.assertEqual(stream_status(sc, "public.again"), 200)

    def test_restart_only_keys_are_kept(self):
        sc = self.start_sidecar()
        stream = self.stream(sc, ["public.keep"])
        sc.write_config(deep_merge(sc.overrides, {"workers": 1, "listen": {"backlog": 64}}))
        log = self.reload(sc, "configuration reloaded")
        self.assertIn("workers", log)
        self.assertIn("restart", log)
        self.assertEqual(sc.metric("sse_workers"), 2)
        reply = self.publisher(sc).publish_ok("public.keep", "x")
        self.assertEqual(stream.next_event().id, reply["id"])

    def test_reload_publish_limits(self):
        sc = self.start_sidecar({"limits": {"max_event_bytes": "64KiB"}})
        pub = self.publisher(sc)
        self.assertTrue(pub.publish("public.x", "x" * 2000)["ok"])
        sc.write_config(deep_merge(sc.overrides, {"limits": {"max_event_bytes": "1KiB"},
                                                  "publish": {"tokens": []}}))
        self.reload(sc, "configuration reloaded")
        # The same (open) publisher connection gets the new limit.
        reply = pub.publish("public.x", "x" * 2000)
        self.assertIs(reply["ok"], False, reply)
        status, _, _ = sc.http_publish({"topic": "public.x", "data": "y"})
        self.assertEqual(status, 403)


class DrainTest(SidecarTestCase):
    def test_sigterm_ends_streams_cleanly_and_exits(self):
        sc = self.start_sidecar({"drain_timeout": "2s"})
        chunked = self.stream(sc, ["public.d"])
        plain = self.stream(sc, ["public.d"], http_version="1.0")
        pattern = self.stream(sc, ["public.*"])
        pub = self.publisher(sc)
        reply = pub.publish_ok("public.d", "before")
        for c in (chunked, plain, pattern):
            self.assertEqual(c.next_event().id, reply["id"])
        self.assertTrue(os.path.exists(sc.socket_path))

        start = time.monotonic()
        sc.signal(signal.SIGTERM)
        for c in (chunked, pattern):
            c.read_to_eof(timeout=5)
            self.assertTrue(c.ended_cleanly, "no chunked terminator: %r" % bytes(c.wire[-50:]))
            self.assertTrue(bytes(c.wire).endswith(b"\r\n0\r\n\r\n"), bytes(c.wire[-50:]))
            self.assertEqual(c.extra_after_end, b"")
            self.assertFalse(c.reset)
        plain.read_to_eof(timeout=5)
        self.assertFalse(plain.reset)
        self.assertTrue(bytes(plain.body).endswith(b"\n\n"))
        self.assertEqual(sc.wait(2 + 3), 0, "exit code (or still running)")
        self.assertLess(time.monotonic() - start, 2 + 3)
        self.assertFalse(os.path.exists(sc.socket_path), "publish socket file left behind")
        self.assertIn("stopped", sc.log())

    def test_sigint_drains_too(self):
        sc = self.start_sidecar()
        stream = self.stream(sc, ["public.d"])
        sc.signal(signal.SIGINT)
        stream.read_to_eof(timeout=5)
        self.assertTrue(stream.ended_cleanly)
        self.assertEqual(sc.wait(5), 0)
        self.assertFalse(os.path.exists(sc.socket_path))

    def _stuck_stream(self, sc):
        """A stream that cannot take the data queued for it, so draining has to wait."""
        stuck = self.stream(sc, ["public.stuck"], rcvbuf=4096)
        pub = self.publisher(sc)
        payload = "s" * 4096
        for _ in range(50):  # 10 MB: more than the kernel buffers take
            pub.send(*[{"topic": "public.stuck", "data": payload} for _ in range(50)])
            pub.read_replies(50)
        self.assertEqual(sc.metric("sse_slow_consumer_disconnects_total"), 0)
        return stuck

    def test_during_drain_new_work_is_refused(self):
        sc = self.start_sidecar({"drain_timeout": "2s",
                                 "limits": {"subscriber_buffer_bytes": "64MiB"}})
        self._stuck_stream(sc)
        other = self.stream(sc, ["public.other"])
        old_publisher = self.publisher(sc)
        start = time.monotonic()
        sc.signal(signal.SIGTERM)
        wait_until(lambda: sc.admin_request("GET", "/readyz")[0] == 503, 3,
                   message="/readyz 503 while draining")
        self.assertTrue(sc.alive())
        other.read_to_eof(timeout=3)
        self.assertTrue(other.ended_cleanly)
        self.assertEqual(sc.metric("sse_draining"), 1)
        status, _, body = sc.admin_request("GET", "/healthz")
        self.assertEqual(status, 200)
        status, _, body = sc.http_publish({"topic": "public.other", "data": "x"})
        self.assertEqual(status, 503, body)
        # The publish socket is gone: no new publishers.
        self.assertFalse(os.path.exists(sc.socket_path))
        with self.assertRaises(OSError):
            SocketPublisher(sc.socket_path, timeout=1).close()
        # New stream connections: 503, or refused once the listener is closed; never a stream.
        outcomes = []

        def attempt():
            try:
                client = SSEClient(sc.sse_port, timeout=2)
            except ConnectionRefusedError:
                outcomes.append("refused")
                return True
            try:
                client.request("GET", "/events?topic=public.other")
                client.read_body(timeout=2)
                outcomes.append(client.status)
            except (OSError, AssertionError):
                outcomes.append("reset")
            finally:
                client.close()
            return False

        wait_until(attempt, 1.5, interval=0.05, message="connections refused")
        self.assertNotIn(200, outcomes)
        self.assertTrue(set(outcomes) <= {"refused", "reset", 503}, outcomes)
        self.assertTrue(sc.alive(), "exited before the stuck stream's drain timeout")
        self.assertGreaterEqual(sc.metric('sse_connections_closed_total{reason="drain"}'), 2)
        # The stuck stream holds the exit until drain_timeout, then the process exits 0.
        self.assertEqual(sc.wait(2 + 4), 0)
        self.assertGreaterEqual(time.monotonic() - start, 1.5)
        self.assertIn("drain time over", sc.log())
        old_publisher.close()

    def test_request_in_progress_gets_503(self):
        sc = self.start_sidecar({"limits": {"request_timeout": "10s"}})
        half = self.track(SSEClient(sc.sse_port))
        half.send(b"GET /events?topic=public.d HTTP/1.1\r\nHost: x\r\n")
        sc.wait_metric("sse_connections_open", lambda v: v == 1)
        sc.signal(signal.SIGTERM)
        half.read_body(timeout=5)
        self.assertEqual(half.status, 503)
        self.assertEqual(sc.wait(5), 0)

    def test_second_signal_exits_at_once(self):
        sc = self.start_sidecar({"drain_timeout": "30s",
                                 "limits": {"subscriber_buffer_bytes": "64MiB"}})
        self._stuck_stream(sc)
        sc.signal(signal.SIGTERM)
        wait_until(lambda: sc.admin_request("GET", "/readyz")[0] == 503, 3,
                   message="/readyz 503 while draining")
        time.sleep(0.2)
        self.assertTrue(sc.alive())
        sc.signal(signal.SIGTERM)
        self.assertEqual(sc.wait(5), 0)
        self.assertIn("second stop signal", sc.log())


class StartupTest(SidecarTestCase):
    def test_publish_socket_in_use_by_another_instance(self):
        first = self.start_sidecar()
        second = self.start_sidecar({"publish": {"socket": first.socket_path}}, start=False)
        with self.assertRaises(AssertionError):
            second.start(timeout=5)
        self.assertEqual(second.returncode, 1)
        self.assertIn("in use", second.log())
        # The first instance still owns its socket.
        self.assertTrue(first.alive())
        self.assertTrue(self.publisher(first).publish("public.x", "x")["ok"])

    def test_stale_socket_file_is_replaced(self):
        sc = self.start_sidecar(start=False)
        os.makedirs(os.path.dirname(sc.socket_path))
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(sc.socket_path)
        stale.close()  # the file stays, nobody listens
        sc.start()
        self.assertTrue(self.publisher(sc).publish("public.x", "x")["ok"])

    def test_socket_path_that_is_not_a_socket(self):
        sc = self.start_sidecar(start=False)
        os.makedirs(os.path.dirname(sc.socket_path))
        with open(sc.socket_path, "w") as f:
            f.write("precious")
        with self.assertRaises(AssertionError):
            sc.start(timeout=5)
        self.assertEqual(sc.returncode, 1)
        self.assertIn("not a socket", sc.log())
        with open(sc.socket_path) as f:
            self.assertEqual(f.read(), "precious")

    def test_port_in_use(self):
        first = self.start_sidecar()
        second = self.start_sidecar({"listen": {"sse": "127.0.0.1:%d" % first.sse_port}},
                                    start=False)
        with self.assertRaises(AssertionError):
            second.start(timeout=5)
        self.assertNotEqual(second.returncode, 0)
        self.assertIn("cannot listen", second.log())
        self.assertTrue(first.alive())

    def test_json_logs(self):
        import json
        sc = self.start_sidecar({"log": {"format": "json"}})
        # A reload error quoting awkward text, to exercise escaping.
        with open(sc.config_path) as f:
            text = f.read()
        sc.write_config(raw_text=text + 'history:\n  "we\\"ird\\\\key\\tx": 1\n')
        offset = len(sc.log())
        sc.signal(signal.SIGHUP)
        sc.wait_for_log("keeping the running configuration", start=offset)
        lines = [l for l in sc.log().splitlines() if l.strip()]
        self.assertGreaterEqual(len(lines), 3)
        for line in lines:
            record = json.loads(line)
            self.assertEqual(set(record), {"time", "level", "msg"}, record)
        messages = [json.loads(l)["msg"] for l in lines]
        self.assertTrue(any('we"ird\\key\tx' in m for m in messages), messages)

    def test_log_level_warn_hides_info(self):
        # At info, the same steps log the lines that warn must hide: the startup line, a
        # stream's access log line, and the reload's.
        at_info = self.start_sidecar({"log": {"level": "info"}})
        self._stream_then_reload_with_a_warning(at_info)
        log = at_info.log()
        for line in ("streaming on", "stream ended", "reloading configuration"):
            self.assertRegex(log, r"(?m)^\S+ \S+ info .*%s" % line)

        sc = self.start_sidecar({"log": {"level": "warn"}})
        self._stream_then_reload_with_a_warning(sc)
        log = sc.log()
        # Logging works at warn: the warning is there; every info line is not.
        self.assertRegex(log, r"(?m)^\S+ \S+ warning config reload: 'workers' changed")
        for line in ("streaming on", "stream ended", "reloading configuration", " info "):
            self.assertNotIn(line, log)

    def _stream_then_reload_with_a_warning(self, sc):
        """A stream that ends (an info line), then a reload (info lines) that changes `workers`,
        which only a restart applies (a warning). Returns once the warning is in the log."""
        self.stream(sc, ["public.x"]).close()
        # The stream's end is logged before it stops counting as open.
        sc.wait_metric("sse_connections_open", lambda v: v == 0)
        sc.write_config(deep_merge(sc.overrides, {"workers": sc.config["workers"] + 1}))
        sc.signal(signal.SIGHUP)
        sc.wait_for_log("config reload: 'workers' changed")


if __name__ == "__main__":
    unittest.main()
