"""Refused stream requests (status, one-line reason) and CORS on the stream listener."""

import time
import unittest

from sidecar_harness import SidecarTestCase, SSEClient


class StreamErrorsTest(SidecarTestCase):
    def setUp(self):
        self.sc = self.start_sidecar({
            "limits": {"max_topics_per_stream": 3, "request_timeout": "500ms"},
            "access": {"public_topics": ["public.*", "open"]},
        })

    def get(self, target, headers=None, method="GET", http_version="1.1"):
        client = self.track(SSEClient(self.sc.sse_port))
        client.request(method, target, headers=headers, http_version=http_version)
        client.read_body()
        return client

    def assertRefused(self, client, status, reason_contains=""):
        self.assertEqual(client.status, status, bytes(client.wire))
        reason = self.assertOneLineBody(client)
        self.assertIn(reason_contains, reason)
        self.assertEqual(client.headers.get("connection", "").lower(), "close")
        self.assertNotIn("event-stream", client.headers.get("content-type", ""))
        client.read_to_eof(timeout=3)  # the sidecar closes after answering
        return reason

    def test_no_topic(self):
        for target in ("/events", "/events?", "/events?other=1", "/events?last_event_id=1-1"):
            with self.subTest(target=target):
                self.assertRefused(self.get(target), 400, "topic")

    def test_invalid_topic(self):
        for bad in ("bad%20topic", "", "public..x", ".public", "public.", "public.*.x",
                    "x" * 300, "**", "public.x*", "public.%C3%A9"):
            with self.subTest(topic=bad[:20]):
                self.assertRefused(self.get("/events?topic=" + bad), 400, "topic")
        # One bad topic among good ones spoils the request.
        self.assertRefused(self.get("/events?topic=public.a&topic=bad%21"), 400, "topic")

    def test_invalid_topic_reason_stays_one_line(self):
        # The reason quotes the topic; control characters from the query must not break the
        # one-line body.
        for bad in ("a%0Ab", "a%0D%0AX-Injected:%201", "a%0Db"):
            with self.subTest(topic=bad):
                client = self.get("/events?topic=" + bad)
                self.assertEqual(client.status, 400)
                self.assertOneLineBody(client)
                self.assertNotIn(b"\r", bytes(client.body))

    def test_too_many_topics(self):
        ok = self.sc.stream(["public.a", "public.b", "public.c"])
        self.addCleanup(ok.close)
        self.assertEqual(ok.status, 200)
        client = self.get("/events?topic=public.a&topic=public.b&topic=public.c&topic=public.d")
        self.assertRefused(client, 400, "too many topics")

    def test_private_topic_without_credentials(self):
        for target, headers in [("/events?topic=private.x", None),
                                ("/events?topic=public.a&topic=private.x", None),
                                ("/events?topic=*", None),
                                ("/events?topic=publicity", None),
                                ("/events?topic=open.sub", None),
                                ("/events?topic=private.x", {"Authorization": "Bearer abc"}),
                                ("/events?topic=private.x&access_token=abc", None)]:
            with self.subTest(target=target, headers=headers):
                self.assertRefused(self.get(target, headers), 401)
        # Listed exactly: allowed.
        ok = self.sc.stream(["open"])
        self.addCleanup(ok.close)
        self.assertEqual(ok.status, 200)

    def test_unknown_path(self):
        for target in ("/", "/event?topic=public.a", "/events/x?topic=public.a",
                       "/healthz", "/publish", "/EVENTS?topic=public.a"):
            with self.subTest(target=target):
                self.assertRefused(self.get(target), 404)

    def test_wrong_method(self):
        for method in ("POST", "PUT", "DELETE", "HEAD"):
            with self.subTest(method=method):
                client = self.get("/events?topic=public.a", method=method)
                if method == "HEAD":
                    # A HEAD answer has no body to read; only the status line matters.
                    self.assertEqual(client.status, 405)
                    continue
                self.assertRefused(client, 405)
                self.assertIn("GET", client.headers.get("allow", ""))

    def test_malformed_requests(self):
        cases = [
            ("bad request line", b"GARBAGE\r\n\r\n"),
            ("bad version", b"GET /events?topic=public.a HTTP/2.0\r\n\r\n"),
            ("bad header", b"GET /events?topic=public.a HTTP/1.1\r\nNo colon here\r\n\r\n"),
            ("folded header", b"GET /events?topic=public.a HTTP/1.1\r\nX: a\r\n  b\r\n\r\n"),
            ("absolute target", b"GET http://x/events?topic=public.a HTTP/1.1\r\n\r\n"),
        ]
        for name, raw in cases:
            with self.subTest(case=name):
                client = self.sc.raw_request(raw)
                self.assertRefused(client, 400)

    def test_header_block_too_large(self):
        filler = "x" * 9000  # default limit: 8 KiB
        client = self.get("/events?topic=public.a", headers={"X-Filler": filler})
        self.assertRefused(client, 431)
        # Under the limit is fine.
        ok = self.sc.stream(["public.a"], headers={"X-Filler": "y" * 7000})
        self.addCleanup(ok.close)
        self.assertEqual(ok.status, 200)

    def test_headers_never_finished(self):
        for name, partial in [("nothing sent", b""),
                              ("request line only", b"GET /events?topic=public.a HTTP/1.1\r\n"),
                              ("half a header", b"GET /events?topic=public.a HTTP/1.1\r\nHo")]:
            with self.subTest(case=name):
                client = self.track(SSEClient(self.sc.sse_port, timeout=5))
                start = time.monotonic()
                if partial:
                    client.send(partial)
                client.read_body(timeout=5)
                self.assertGreaterEqual(time.monotonic() - start, 0.4)
                self.assertRefused(client, 408)

    def test_trickled_headers_still_time_out(self):
        client = self.track(SSEClient(self.sc.sse_port, timeout=5))
        start = time.monotonic()
        # 600 bytes at one per 20 ms would take 12 s: only the fixed deadline ends it early.
        request = b"GET /events?topic=public.a HTTP/1.1\r\nX-Slow: " + b"s" * 600
        for i in range(len(request)):
            if client.eof or client.head_done:
                break
            try:
                client.send(request[i:i + 1])
            except OSError:
                break
            client.drain_available(0.02)
        client.read_body(timeout=5)
        self.assertRefused(client, 408)
        self.assertLess(time.monotonic() - start, 6, "the request deadline was extended")
        self.assertGreaterEqual(self.sc.metric('sse_connections_closed_total{reason="timeout"}'),
                                1)

    def test_refusals_are_counted(self):
        before = self.sc.metric('sse_connections_closed_total{reason="refused"}')
        self.get("/events")
        self.get("/nope")
        self.sc.wait_metric('sse_connections_closed_total{reason="refused"}',
                            lambda v: v == before + 2)
        self.sc.wait_metric("sse_connections_open", lambda v: v == 0)


class ConnectionLimitTest(SidecarTestCase):
    def test_fourth_connection_gets_503(self):
        sc = self.start_sidecar({"limits": {"max_connections": 3}})
        streams = [self.stream(sc, ["public.a"]) for _ in range(3)]
        client = self.track(SSEClient(sc.sse_port))
        client.request("GET", "/events?topic=public.a")
        client.read_body()
        self.assertEqual(client.status, 503, bytes(client.wire))
        self.assertOneLineBody(client)
        client.read_to_eof()
        # The open streams are unaffected.
        reply = self.publisher(sc).publish_ok("public.a", "x")
        self.assertEqual(reply["subscribers"], 3)
        for s in streams:
            self.assertEqual(s.next_event().id, reply["id"])
        # A slot frees up when a stream leaves.
        streams[0].close()
        sc.wait_metric("sse_connections_open", lambda v: v == 2)
        again = self.stream(sc, ["public.a"])
        self.assertEqual(again.status, 200)

    def test_patterns_disallowed(self):
        sc = self.start_sidecar({"stream": {"allow_patterns": False}})
        client = self.track(SSEClient(sc.sse_port))
        client.request("GET", "/events?topic=public.*")
        client.read_body()
        self.assertEqual(client.status, 400)
        self.assertIn("pattern", self.assertOneLineBody(client))
        ok = self.stream(sc, ["public.a"])
        self.assertEqual(ok.status, 200)


class CorsTest(SidecarTestCase):
    APP = "https://app.example.com"

    def setUp(self):
        self.sc = self.start_sidecar({"cors": {"allow_origins": [self.APP]}})

    def test_allowed_origin(self):
        client = self.stream(self.sc, ["public.c"], headers={"Origin": self.APP})
        self.assertEqual(client.headers.get("access-control-allow-origin"), self.APP)
        self.assertIn("Origin", client.headers.get("vary", ""))
        reply = self.publisher(self.sc).publish_ok("public.c", "x")
        self.assertEqual(client.next_event().id, reply["id"])

    def test_other_origin_refused(self):
        for origin in ("https://evil.example.com", "http://app.example.com",
                       "https://app.example.com.evil.net", "null"):
            with self.subTest(origin=origin):
                client = self.track(SSEClient(self.sc.sse_port))
                client.request("GET", "/events?topic=public.c", headers={"Origin": origin})
                client.read_body()
                self.assertEqual(client.status, 403)
                self.assertOneLineBody(client)
                self.assertNotIn("access-control-allow-origin", client.headers)
                self.assertNotIn(b"retry:", bytes(client.wire))
                client.read_to_eof()

    def test_preflight(self):
        client = self.track(SSEClient(self.sc.sse_port))
        client.request("OPTIONS", "/events?topic=public.c", headers={
            "Origin": self.APP, "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "last-event-id"})
        client.read_body()
        self.assertEqual(client.status, 204)
        self.assertEqual(client.headers.get("access-control-allow-origin"), self.APP)
        self.assertIn("GET", client.headers.get("access-control-allow-methods", ""))
        allow_headers = client.headers.get("access-control-allow-headers", "").lower()
        self.assertIn("last-event-id", allow_headers)
        self.assertEqual(bytes(client.body), b"")
        client.read_to_eof()
        # Preflight from another origin.
        client = self.track(SSEClient(self.sc.sse_port))
        client.request("OPTIONS", "/events", headers={"Origin": "https://evil.example.com",
                                                      "Access-Control-Request-Method": "GET"})
        client.read_body()
        self.assertEqual(client.status, 403)
        self.assertEqual(self.sc.metric('sse_connections_closed_total{reason="answered"}'), 1)

    def test_no_origin_header_is_accepted(self):
        client = self.stream(self.sc, ["public.c"])
        self.assertNotIn("access-control-allow-origin", client.headers)
        reply = self.publisher(self.sc).publish_ok("public.c", "x")
        self.assertEqual(client.next_event().id, reply["id"])


class CorsWildcardTest(SidecarTestCase):
    def test_wildcard_and_exact(self):
        app = "https://app.example.com"
        sc = self.start_sidecar({"cors": {"allow_origins": ["*", app]}})
        exact = self.stream(sc, ["public.c"], headers={"Origin": app})
        self.assertEqual(exact.headers.get("access-control-allow-origin"), app)
        anyone = self.stream(sc, ["public.c"], headers={"Origin": "https://other.example"})
        self.assertEqual(anyone.headers.get("access-control-allow-origin"), "*")
        self.assertNotIn("access-control-allow-credentials", anyone.headers)

    def test_no_origins_configured_refuses_browsers(self):
        sc = self.start_sidecar({"cors": {"allow_origins": []}})
        client = self.track(SSEClient(sc.sse_port))
        client.request("GET", "/events?topic=public.c", headers={"Origin": "https://a.example"})
        client.read_body()
        self.assertEqual(client.status, 403)
        ok = self.stream(sc, ["public.c"])
        self.assertEqual(ok.status, 200)


if __name__ == "__main__":
    unittest.main()
