"""/metrics: every family is exposed, and values move with activity."""

import unittest

from sidecar_harness import SidecarTestCase

CLOSE_REASONS = ["client", "slow_consumer", "drain", "refused", "answered", "timeout", "error"]
INGEST_KINDS = ["malformed", "invalid", "too_large", "line_too_long", "unauthorized"]
PUBLISHER_CLOSE_REASONS = ["client", "refused", "stalled", "drain", "error"]


class MetricsTest(SidecarTestCase):
    def test_metric_names_and_format(self):
        sc = self.start_sidecar()
        status, headers, body = sc.admin_request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("text/plain"))
        text = body.decode("utf-8")
        families = {
            "sse_connections_open": "gauge",
            "sse_connections_closed_total": "counter",
            "sse_events_published_total": "counter",
            "sse_events_delivered_total": "counter",
            "sse_events_dropped_total": "counter",
            "sse_bytes_sent_total": "counter",
            "sse_history_events": "gauge",
            "sse_slow_consumer_disconnects_total": "counter",
            "sse_ingest_errors_total": "counter",
            "sse_publisher_paused_total": "counter",
            "sse_publisher_closed_total": "counter",
        }
        for name, kind in families.items():
            self.assertIn("# TYPE %s %s\n" % (name, kind), text)
            self.assertRegex(text, r"(?m)^# HELP %s \S" % name)
        m = sc.metrics()
        for reason in CLOSE_REASONS:
            self.assertIn('sse_connections_closed_total{reason="%s"}' % reason, m)
        for kind in INGEST_KINDS:
            self.assertIn('sse_ingest_errors_total{kind="%s"}' % kind, m)
        for reason in PUBLISHER_CLOSE_REASONS:
            self.assertEqual(m['sse_publisher_closed_total{reason="%s"}' % reason], 0)
        for reason in ("replies", "engine"):
            self.assertEqual(m['sse_publisher_paused_total{reason="%s"}' % reason], 0)
        # Every sample line is "name[{labels}] value"; only the process_* seconds have a
        # fraction.
        for line in text.splitlines():
            if line and not line.startswith("#"):
                self.assertRegex(line, r'^[a-z_0-9]+(\{[a-z_]+="[a-z0-9_+]+"\})? \d+$'
                                 if not line.startswith("process_") else
                                 r'^process_[a-z_]+ \d+(\.\d+)?$')
        # A fresh sidecar starts at zero.
        for key in ("sse_connections_open", "sse_events_published_total",
                    "sse_events_delivered_total", "sse_bytes_sent_total",
                    "sse_history_events", "sse_slow_consumer_disconnects_total"):
            self.assertEqual(m[key], 0, key)

    def test_values_move_with_activity(self):
        sc = self.start_sidecar({"limits": {"max_event_bytes": "1KiB"}})
        a = self.stream(sc, ["public.m"])
        b = self.stream(sc, ["public.m", "public.n"])
        m0 = sc.metrics()
        self.assertEqual(m0["sse_connections_open"], 2)
        # The harness runs two workers; every open connection is on exactly one of them.
        per_worker = [m0['sse_worker_connections{worker="%d"}' % w] for w in (0, 1)]
        self.assertEqual(sum(per_worker), 2)
        self.assertGreater(m0["sse_bytes_sent_total"], 0)  # response heads and retry:

        pub = self.publisher(sc)
        for i in range(3):
            pub.publish_ok("public.m", "m%d" % i)
        pub.publish_ok(None, "both", topics=["public.m", "public.n"])
        a.read_events(4)
        b.read_events(4)
        m1 = sc.wait_metric("sse_events_delivered_total", lambda v: v == 8)
        m1 = sc.metrics()
        self.assertEqual(m1["sse_events_published_total"], 4)
        self.assertGreater(m1["sse_bytes_sent_total"], m0["sse_bytes_sent_total"])
        # History counts an event once per topic it is kept under.
        self.assertEqual(m1["sse_history_events"], 5)
        self.assertEqual(m1["sse_history_topics"], 2)
        self.assertEqual(m1["sse_publisher_connections"], 1)

        # Refused input, by kind.
        pub.send_raw(b"{not json\n")
        pub.send_raw(b'{"topic":"bad topic"}\n')
        pub.send_raw(('{"topic":"public.m","data":"%s"}\n' % ("x" * 2000)).encode())
        self.assertEqual([r["ok"] for r in pub.read_replies(3)], [False] * 3)
        status, _, _ = sc.http_publish({"topic": "public.m"}, token="wrong-token-wrong-token")
        self.assertEqual(status, 401)
        m2 = sc.metrics()
        for kind, n in [("malformed", 1), ("invalid", 1), ("too_large", 1),
                        ("unauthorized", 1), ("line_too_long", 0)]:
            key = 'sse_ingest_errors_total{kind="%s"}' % kind
            self.assertEqual(m2[key] - m1[key], n, key)
        self.assertEqual(m2["sse_events_published_total"], 4)

        # Disconnects.
        a.close()
        sc.wait_metric("sse_connections_open", lambda v: v == 1)
        self.assertEqual(sc.metric('sse_connections_closed_total{reason="client"}'),
                         m0['sse_connections_closed_total{reason="client"}'] + 1)
        b.close()
        sc.wait_metric("sse_connections_open", lambda v: v == 0)
        # Refused requests.
        sc.raw_request(b"GET /events HTTP/1.1\r\n\r\n")
        sc.wait_metric('sse_connections_closed_total{reason="refused"}', lambda v: v == 1)
        sc.wait_metric("sse_connections_open", lambda v: v == 0)
        self.assertEqual(sc.metric("sse_connections_total"), 3)
        pub.close()
        sc.wait_metric("sse_publisher_connections", lambda v: v == 0)

    def test_replayed_events_count_as_delivered(self):
        sc = self.start_sidecar()
        pub = self.publisher(sc)
        ids = [pub.publish_ok("public.r", str(i))["id"] for i in range(5)]
        self.assertEqual(sc.metric("sse_events_delivered_total"), 0)
        client = self.stream(sc, ["public.r"], headers={"Last-Event-ID": ids[0]})
        self.assertEqual(len(client.read_events(4)), 4)
        # Nothing else happens: the 4 replayed copies must still show up.
        sc.wait_metric("sse_events_delivered_total", lambda v: v == 4, timeout=3)


if __name__ == "__main__":
    unittest.main()
