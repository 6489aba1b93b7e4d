"""Presence (join/leave events, GET /presence, the app webhook with batching, signatures and
retries), stream.max_duration, the drain reconnect hint, and the access log line."""

import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sidecar_harness import SIDECAR_BIN, TOKEN, SidecarTestCase, wait_until

ALICE = "alice-static-token-0123456789abcdef"
BOB = "bob-static-token-fedcba9876543210"
CAROL = "carol-static-token-0011223344556677"
WEBHOOK_SECRET = "presence-webhook-secret-for-tests"

SUBSCRIBERS = [
    {"token": ALICE, "subject": "alice", "topics": ["chat.*", "presence.*", "doc.*"]},
    {"token": BOB, "subject": "bob", "topics": ["chat.*", "presence.*"]},
    {"token": CAROL, "subject": "carol \"the\" admin", "topics": ["chat.*"]},
]


def auth(token):
    return {"Authorization": "Bearer " + token}


class WebhookApp:
    """Records POSTed presence batches; answers `fail_first` requests with 500 first."""

    def __init__(self, fail_first=0):
        self.fail_first = fail_first
        self.requests = []  # (headers, raw body, status answered)
        self.lock = threading.Lock()
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with app.lock:
                    status = 500 if app.fail_first > 0 else 204
                    app.fail_first -= 1
                    app.requests.append(({k.lower(): v for k, v in self.headers.items()},
                                         raw, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/presence" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def accepted_changes(self):
        with self.lock:
            return [c for h, raw, status in self.requests if status == 204
                    for c in json.loads(raw)["changes"]]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class PresenceTest(SidecarTestCase):
    def start_presence(self, webhook=None, extra=None):
        overrides = {
            "access": {"tokens": SUBSCRIBERS},
            "presence": {
                "rules": [{"topics": ["chat.*"], "event_topic": "presence.{topic}",
                           "webhook": webhook is not None},
                          {"topics": ["doc.*"], "event_topic": "presence.docs"}],
            },
        }
        if webhook is not None:
            secret_path = os.path.join(self.tmp_dir(), "webhook.secret")
            with open(secret_path, "w") as f:
                f.write(WEBHOOK_SECRET)
            overrides["presence"]["webhook"] = {
                "url": webhook.url, "secret_file": secret_path, "batch_delay": "50ms",
                "max_backoff": "200ms"}
        for key, value in (extra or {}).items():
            overrides[key] = value
        return self.start_sidecar(overrides)

    def tmp_dir(self):
        d = tempfile.mkdtemp(prefix="sse-presence-")
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def presence(self, sc, topic, token=TOKEN):
        headers = auth(token) if token else {}
        status, _, body = sc.admin_request("GET", "/presence?topic=" + topic, headers=headers)
        return status, json.loads(body) if body else None

    def online(self, sc, topic):
        status, body = self.presence(sc, topic)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["topic"], topic)
        return body["subjects"]

    def test_join_and_leave_events_and_the_presence_list(self):
        sc = self.start_presence()
        watcher = self.stream(sc, ["chat.lobby", "presence.chat.lobby"], headers=auth(ALICE))
        joined = watcher.next_event()
        self.assertEqual((joined.event, json.loads(joined.data)),
                         ("sidecar.join", {"topic": "chat.lobby", "subject": "alice"}))

        bob1 = self.stream(sc, ["chat.lobby"], headers=auth(BOB))
        event = watcher.next_event()
        self.assertEqual((event.event, json.loads(event.data)),
                         ("sidecar.join", {"topic": "chat.lobby", "subject": "bob"}))
        self.assertEqual(self.online(sc, "chat.lobby"), ["alice", "bob"])

        # A second stream of bob's is not news; closing one of two is not a leave either.
        bob2 = self.stream(sc, ["chat.lobby"], headers=auth(BOB))
        bob1.close()
        marker = self.publisher(sc)
        marker.send({"topic": "chat.lobby", "data": "marker"})
        self.assertTrue(marker.read_reply()["ok"])
        self.assertEqual(watcher.next_event().data, "marker")
        self.assertEqual(self.online(sc, "chat.lobby"), ["alice", "bob"])

        bob2.close()
        event = watcher.next_event()
        self.assertEqual((event.event, json.loads(event.data)),
                         ("sidecar.leave", {"topic": "chat.lobby", "subject": "bob"}))
        self.assertEqual(self.online(sc, "chat.lobby"), ["alice"])
        self.assertEqual(sc.metric('sse_presence_changes_total{action="join"}'), 2)
        self.assertEqual(sc.metric('sse_presence_changes_total{action="leave"}'), 1)
        # Presence events are ordinary events: they have ids and are kept for resume.
        self.assertTrue(event.id)

    def test_a_stream_always_receives_its_own_join(self):
        # The join is published while the stream is being set up; it must not fall between
        # the stream's starting point and its first live event.
        sc = self.start_presence()
        for attempt in range(25):
            client = sc.stream(["chat.lobby", "presence.chat.lobby"], headers=auth(BOB))
            try:
                event = client.next_event(timeout=5)
                self.assertEqual((event.event, json.loads(event.data)["subject"]),
                                 ("sidecar.join", "bob"), "attempt %d" % attempt)
            finally:
                client.close()
            wait_until(lambda: self.online(sc, "chat.lobby") == [], message="bob left")

    def test_anonymous_and_pattern_streams_are_not_tracked(self):
        sc = self.start_presence(extra={"access": {"tokens": SUBSCRIBERS,
                                                   "public_topics": ["chat.open", "public.*"]}})
        watcher = self.stream(sc, ["presence.chat.open"], headers=auth(ALICE))
        self.stream(sc, ["chat.open"])  # anonymous
        self.stream(sc, ["chat.*"], headers=auth(BOB))  # a pattern is not "being in" a room
        self.stream(sc, ["doc.readme"], headers=auth(ALICE))  # another rule, another topic
        self.stream(sc, ["chat.open"], headers=auth(CAROL))
        event = watcher.next_event()
        self.assertEqual(json.loads(event.data),
                         {"topic": "chat.open", "subject": "carol \"the\" admin"})
        self.assertEqual(self.online(sc, "chat.open"), ["carol \"the\" admin"])
        self.assertEqual(self.online(sc, "doc.readme"), ["alice"])

    def test_a_rule_can_send_every_change_to_one_topic(self):
        sc = self.start_presence()
        watcher = self.stream(sc, ["presence.docs"], headers=auth(ALICE))
        self.stream(sc, ["doc.a"], headers=auth(ALICE))
        self.stream(sc, ["doc.b"], headers=auth(ALICE))
        got = [json.loads(watcher.next_event().data) for _ in range(2)]
        self.assertEqual(sorted(g["topic"] for g in got), ["doc.a", "doc.b"])

    def test_presence_endpoint_needs_publisher_credentials_and_a_topic(self):
        sc = self.start_presence(extra={"publish": {"tokens": [
            TOKEN, {"token": "limited-publisher-token-00000000", "topics": ["other.*"]}]}})
        self.assertEqual(self.presence(sc, "chat.lobby", token=None)[0], 401)
        self.assertEqual(self.presence(sc, "chat.lobby", token="wrong-token-000000000000")[0], 401)
        status, body = self.presence(sc, "chat.lobby", token="limited-publisher-token-00000000")
        self.assertEqual(status, 403, body)
        self.assertIn("chat.lobby", body["error"])
        status, body = self.presence(sc, "bad%20topic!")
        self.assertEqual(status, 400)
        self.assertIn("topic", body["error"])
        status, _, _ = sc.admin_request("GET", "/presence", headers=auth(TOKEN))
        self.assertEqual(status, 400)
        status, _, _ = sc.admin_request("POST", "/presence?topic=a", headers=auth(TOKEN))
        self.assertEqual(status, 405)

    def test_webhook_gets_signed_batches_in_order_despite_failures(self):
        app = WebhookApp(fail_first=2)
        self.addCleanup(app.close)
        sc = self.start_presence(webhook=app)
        alice = self.stream(sc, ["chat.lobby"], headers=auth(ALICE))
        bob = self.stream(sc, ["chat.lobby", "chat.random"], headers=auth(BOB))
        bob.close()
        alice.close()
        expected = [("join", "chat.lobby", "alice"), ("join", "chat.lobby", "bob"),
                    ("join", "chat.random", "bob"), ("leave", "chat.lobby", "bob"),
                    ("leave", "chat.random", "bob"), ("leave", "chat.lobby", "alice")]

        def received():
            return [(c["action"], c["topic"], c["subject"]) for c in app.accepted_changes()]
        wait_until(lambda: len(received()) >= len(expected), timeout=15,
                   message="webhook changes (got %r)" % (received(),))
        # Joins of one subject may interleave with another's, but each subject's own changes
        # keep their order and nothing is lost or repeated.
        self.assertEqual(sorted(received()), sorted(expected))
        for who in ("alice", "bob"):
            self.assertEqual([c for c in received() if c[2] == who],
                             [c for c in expected if c[2] == who])
        with app.lock:
            requests = list(app.requests)
        self.assertGreaterEqual(len(requests), 3)  # two failures, then at least one success
        self.assertEqual(requests[0][1], requests[1][1])  # the failed batch was sent again
        for headers, raw, _ in requests:
            self.assertEqual(headers["content-type"], "application/json")
            ts = headers["x-sidecar-timestamp"]
            want = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), (ts + "\n").encode() + raw,
                                        hashlib.sha256).hexdigest()
            self.assertEqual(headers["x-sidecar-signature"], want)
            self.assertLess(abs(int(ts) - time.time()), 60)
        for change in app.accepted_changes():
            self.assertLess(abs(change["time"] / 1000 - time.time()), 60)
        self.assertEqual(sc.metric('sse_presence_webhook_batches_total{result="failed"}'), 2)
        sc.wait_metric("sse_presence_webhook_queue", lambda v: v == 0)

    def test_webhook_batch_dropped_after_retries_is_counted(self):
        app = WebhookApp(fail_first=1000)
        self.addCleanup(app.close)
        sc = self.start_presence(webhook=app)
        sc.stop()
        sc.overrides["presence"]["webhook"]["max_retries"] = 2
        sc.start()
        self.stream(sc, ["chat.lobby"], headers=auth(ALICE))
        sc.wait_metric("sse_presence_webhook_dropped_total", lambda v: v == 1, timeout=15)
        self.assertEqual(sc.metric('sse_presence_webhook_batches_total{result="failed"}'), 3)
        sc.wait_for_log("dropping 1 change(s) after 3 attempt(s)")

    def test_config_errors(self):
        sc = self.start_sidecar(start=False)
        cases = [
            ({"rules": [{"topics": ["chat.*"]}]}, "reports nowhere"),
            ({"rules": [{"event_topic": "p.{topic}"}]}, "needs topics"),
            ({"rules": [{"topics": ["chat.*"], "webhook": True}]}, "presence.webhook.url"),
            ({"rules": [{"topics": ["chat.*"], "event_topic": "bad topic {topic}"}]},
             "event_topic"),
            ({"rules": [{"topics": ["bad pattern!"], "event_topic": "p"}]}, "rules[0].topics"),
            ({"webhook": {"url": "ftp://x"}}, "http:// or https://"),
            ({"rules": [], "colour": "red"}, "colour"),
        ]
        for presence, message in cases:
            with self.subTest(presence=presence):
                sc.overrides = {"presence": presence}
                sc.sse_port = sc.admin_port = 1
                sc.write_config()
                result = subprocess.run([SIDECAR_BIN, "--check-config", sc.config_path],
                                        capture_output=True, text=True, timeout=10)
                self.assertNotEqual(result.returncode, 0)
                self.assertIn(message, result.stderr)
                self.assertRegex(result.stderr, r"config\.yaml:\d+:\d+: ")


class DisconnectTest(SidecarTestCase):
    def test_the_app_ends_a_subjects_streams(self):
        sc = self.start_sidecar({
            "access": {"tokens": SUBSCRIBERS},
            "presence": {"rules": [{"topics": ["chat.*"], "event_topic": "presence.{topic}"}]},
            "publish": {"tokens": [TOKEN, {"token": "limited-publisher-token-00000000",
                                           "topics": ["chat.lobby"]}]}})
        staff = self.stream(sc, ["chat.staff"], headers=auth(ALICE))
        lobby = self.stream(sc, ["chat.lobby", "presence.chat.staff"], headers=auth(ALICE))
        bob = self.stream(sc, ["chat.staff"], headers=auth(BOB))

        def post(query, token=TOKEN):
            status, _, body = sc.admin_request("POST", "/disconnect?" + query,
                                               headers=auth(token) if token else {})
            return status, json.loads(body)

        self.assertEqual(post("subject=alice&topic=chat.staff", token=None)[0], 401)
        self.assertEqual(post("subject=alice&topic=chat.staff",
                              token="limited-publisher-token-00000000")[0], 403)
        self.assertEqual(post("subject=alice", token="limited-publisher-token-00000000")[0], 403)
        self.assertEqual(post("topic=chat.staff")[0], 400)
        self.assertEqual(post("subject=alice&topic=bad%20topic")[0], 400)

        self.assertEqual(post("subject=alice&topic=chat.staff"), (202, {"ok": True}))
        notice = staff.next_event()
        self.assertEqual(notice.event, "sidecar.revoked")
        self.assertIn("disconnected by the application", notice.data)
        staff.read_to_eof(timeout=5)
        self.assertTrue(staff.ended_cleanly)
        # Alice leaves #staff (her lobby stream sees it); her other stream and bob's stay.
        seen = []
        while ("sidecar.leave", "alice") not in seen and len(seen) < 4:
            event = lobby.next_event()
            seen.append((event.event, json.loads(event.data)["subject"]))
        self.assertEqual(seen[-1], ("sidecar.leave", "alice"), seen)
        pub = self.publisher(sc)
        pub.send({"topic": "chat.staff", "data": "still here"})
        self.assertEqual(pub.read_reply()["subscribers"], 1)
        self.assertEqual(bob.next_event().data, "still here")
        self.assertFalse(lobby.eof)

        self.assertEqual(post("subject=alice"), (202, {"ok": True}))
        self.assertEqual(lobby.next_event().event, "sidecar.revoked")
        lobby.read_to_eof(timeout=5)
        sc.wait_metric('sse_connections_closed_total{reason="revoked"}', lambda v: v == 2)
        self.assertIn("ends the streams of alice on chat.staff", sc.log())


class StreamLifetimeTest(SidecarTestCase):
    def test_max_duration_ends_streams_and_they_resume(self):
        sc = self.start_sidecar({"stream": {"max_duration": "1s"},
                                 "access": {"tokens": SUBSCRIBERS}})
        client = self.stream(sc, ["chat.lobby"], headers=auth(ALICE))
        pub = self.publisher(sc)
        pub.send({"topic": "chat.lobby", "data": "one"})
        first_id = pub.read_reply()["id"]
        self.assertEqual(client.next_event().data, "one")
        client.read_to_eof(timeout=5)
        self.assertTrue(client.ended_cleanly)
        sc.wait_metric('sse_connections_closed_total{reason="max_duration"}', lambda v: v == 1)
        pub.send({"topic": "chat.lobby", "data": "two"})
        self.assertTrue(pub.read_reply()["ok"])
        again = self.stream(sc, ["chat.lobby"], headers=dict(auth(ALICE),
                                                            **{"Last-Event-ID": first_id}))
        self.assertEqual(again.next_event().data, "two")

    def test_access_log_line_per_stream_without_the_token(self):
        sc = self.start_sidecar({"access": {"tokens": SUBSCRIBERS}})
        client = self.stream(sc, ["chat.lobby"], query="access_token=" + ALICE)
        pub = self.publisher(sc)
        pub.send({"topic": "chat.lobby", "data": "x" * 100})
        self.assertTrue(pub.read_reply()["ok"])
        client.next_event()
        client.close()
        sc.wait_for_log("stream ended")
        log = sc.log()
        entry = next(l for l in log.splitlines() if "stream ended" in l)
        self.assertRegex(entry, r'peer=127\.0\.0\.1 subject="alice" auth=token '
                                r'topics=chat\.lobby duration_ms=\d+ events=1 bytes=\d+ '
                                r'reason=client')
        self.assertGreater(int(re.search(r"bytes=(\d+)", entry).group(1)), 100)
        self.assertNotIn(ALICE, log)

    def test_drain_sends_a_reconnect_hint_before_ending(self):
        sc = self.start_sidecar({"stream": {"retry": "1s"}})
        client = self.stream(sc, ["public.news"])
        self.assertEqual(client.retry, 1000)
        sc.signal(signal.SIGTERM)
        client.read_to_eof(timeout=5)
        self.assertTrue(client.ended_cleanly)
        # Spread between retry and twice retry, so clients do not all come back at once.
        self.assertGreaterEqual(client.retry, 1000)
        self.assertLessEqual(client.retry, 2000)
        self.assertIn(b"retry: ", bytes(client.wire).split(b"retry: 1000", 1)[1])
        self.assertEqual(sc.wait(5), 0)


if __name__ == "__main__":
    unittest.main()
