"""Publisher credentials: named bearer tokens limited to topics (plain and sha256), HMAC-signed
POST /publish within a timestamp window, and the publish socket's SO_PEERCRED allowlist and
topic restriction."""

import json
import os
import shutil
import tempfile
import time
import unittest

from sidecar_harness import SidecarTestCase, SocketPublisher
from auth_helpers import AccessAssertions, hashed, signed_publish_headers

ORDERS_PUB = "pub-orders-token-0123456789abcdef"
HASHED_PUB = "pub-hashed-token-fedcba9876543210"
HMAC_SECRET = "publish-hmac-secret-0123456789abcdef"

FORBIDDEN = 'sse_ingest_errors_total{kind="forbidden"}'
UNAUTHORIZED = 'sse_ingest_errors_total{kind="unauthorized"}'


def other_uid():
    uid = 12345
    while uid in (os.getuid(), os.geteuid()):
        uid += 1
    return uid


class PublisherCredentialsTest(AccessAssertions, SidecarTestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sse-it-pubkeys-", dir="/tmp")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        secret_file = os.path.join(self.tmp, "publish-hmac.key")
        with open(secret_file, "w", encoding="utf-8") as f:
            f.write(HMAC_SECRET)
        self.sc = self.start_sidecar({
            "publish": {
                "tokens": [{"token": ORDERS_PUB, "name": "orders", "topics": ["orders.*"]},
                           {"token": hashed(HASHED_PUB), "name": "hashed",
                            "topics": ["public.*"]}],
                "hmac_secret_file": secret_file,
                "hmac_window": "30s",
                "hmac_topics": ["signed.*"],
            },
            "access": {"public_topics": ["public.*", "orders.*", "signed.*", "billing.*"]},
        })
        self.client = self.stream(self.sc, ["public.*", "orders.*", "signed.*", "billing.*"])

    def post(self, body, token=None, path="/publish", headers=None):
        return self.sc.http_publish(body, path=path, token=token, headers=headers)

    def test_token_is_limited_to_its_topics(self):
        sc = self.sc
        before = sc.metric(FORBIDDEN)
        status, _, body = self.post({"topic": "orders.1", "data": "mine"}, ORDERS_PUB)
        self.assertEqual(status, 200, body)
        self.assertEqual(self.client.next_event().id, body["id"])
        status, _, body = self.post({"topic": "orders.eu.2", "data": "deep"}, ORDERS_PUB)
        self.assertEqual(status, 200, body)
        self.assertEqual(self.client.next_event().data, "deep")
        for message in ({"topic": "public.x", "data": "not mine"},
                        {"topics": ["orders.1", "billing.1"], "data": "half mine"},
                        {"topic": "orders", "data": "the prefix itself"}):
            with self.subTest(message=message):
                status, _, body = self.post(message, ORDERS_PUB)
                self.assertEqual(status, 403, body)
                self.assertIs(body["ok"], False)
        status, _, body = self.post("raw", ORDERS_PUB, path="/publish/billing.1")
        self.assertEqual(status, 403, body)
        self.client.assert_no_event(0.2)
        self.assertEqual(sc.metric(FORBIDDEN), before + 4)
        # In an array, each element is judged on its own.
        status, _, body = self.post([{"topic": "orders.2", "data": "a"},
                                     {"topic": "public.y", "data": "b"}], ORDERS_PUB)
        self.assertEqual(status, 403, body)
        self.assertEqual([r["ok"] for r in body], [True, False])
        self.assertEqual(self.client.next_event().data, "a")
        self.client.assert_no_event(0.2)

    def test_hashed_token(self):
        status, _, body = self.post({"topic": "public.h", "data": "hashed"}, HASHED_PUB)
        self.assertEqual(status, 200, body)
        self.assertEqual(self.client.next_event().id, body["id"])
        status, _, body = self.post({"topic": "orders.1", "data": "x"}, HASHED_PUB)
        self.assertEqual(status, 403, body)
        # The configured hash is not a credential.
        before = self.sc.metric(UNAUTHORIZED)
        status, _, body = self.post({"topic": "public.h", "data": "x"}, hashed(HASHED_PUB))
        self.assertEqual(status, 401, body)
        self.assertEqual(self.sc.metric(UNAUTHORIZED), before + 1)
        self.client.assert_no_event(0.2)

    def test_unknown_token(self):
        before = self.sc.metric(UNAUTHORIZED)
        for token in ("an-unknown-publisher-token-000", ORDERS_PUB[:-1], ""):
            status, headers, body = self.post({"topic": "orders.1"}, token)
            self.assertEqual(status, 401, body)
            self.assertNotIn(ORDERS_PUB, json.dumps(body))
        self.assertEqual(self.sc.metric(UNAUTHORIZED), before + 3)
        self.client.assert_no_event(0.2)

    def test_hmac_signed_requests(self):
        body = json.dumps({"topic": "signed.a", "data": "signed json"})
        status, _, reply = self.post(body, headers=signed_publish_headers(HMAC_SECRET,
                                                                          "/publish", body))
        self.assertEqual(status, 200, reply)
        self.assertEqual(self.client.next_event().id, reply["id"])
        # Raw form: the target signed is the path and the query as sent.
        target = "/publish/signed.b?event=note"
        status, _, reply = self.post("raw text", path=target,
                                     headers=signed_publish_headers(HMAC_SECRET, target,
                                                                    "raw text"))
        self.assertEqual(status, 200, reply)
        event = self.client.next_event()
        self.assertEqual((event.id, event.event, event.data), (reply["id"], "note", "raw text"))
        # Percent-encoding is part of what was sent.
        target = "/publish/signed%2Ec"
        status, _, reply = self.post("x", path=target,
                                     headers=signed_publish_headers(HMAC_SECRET, target, "x"))
        self.assertEqual(status, 200, reply)
        self.assertEqual(self.client.next_event().id, reply["id"])
        # hmac_topics restricts what signed requests publish.
        other = json.dumps({"topic": "public.x", "data": "x"})
        status, _, reply = self.post(other, headers=signed_publish_headers(HMAC_SECRET,
                                                                           "/publish", other))
        self.assertEqual(status, 403, reply)
        self.client.assert_no_event(0.2)

    def test_hmac_refusals(self):
        sc = self.sc
        body = json.dumps({"topic": "signed.a", "data": "x"})
        now = int(time.time())
        good = signed_publish_headers(HMAC_SECRET, "/publish", body, now)
        cases = [
            ("wrong secret", "/publish", signed_publish_headers(HMAC_SECRET + "x", "/publish",
                                                                body, now)),
            ("signature of another body", "/publish",
             signed_publish_headers(HMAC_SECRET, "/publish", body + " ", now)),
            ("signature of another target", "/publish?x=1", good),
            ("timestamp changed", "/publish", dict(good, **{"X-Sidecar-Timestamp":
                                                            str(now + 1)})),
            ("too old", "/publish", signed_publish_headers(HMAC_SECRET, "/publish", body,
                                                           now - 120)),
            ("too far ahead", "/publish", signed_publish_headers(HMAC_SECRET, "/publish", body,
                                                                 now + 120)),
            ("no timestamp", "/publish", {"X-Sidecar-Signature": good["X-Sidecar-Signature"]}),
            ("garbage signature", "/publish", dict(good, **{"X-Sidecar-Signature":
                                                            "sha256=zz"})),
            ("truncated signature", "/publish",
             dict(good, **{"X-Sidecar-Signature": good["X-Sidecar-Signature"][:-2]})),
        ]
        before = sc.metric(UNAUTHORIZED)
        for name, path, headers in cases:
            with self.subTest(case=name):
                status, _, reply = self.post(body, path=path, headers=headers)
                self.assertEqual(status, 401, reply)
                self.assertIs(reply["ok"], False)
        self.assertEqual(sc.metric(UNAUTHORIZED), before + len(cases))
        self.client.assert_no_event(0.2)
        # Within the window, an older timestamp is fine.
        status, _, reply = self.post(body, headers=signed_publish_headers(
            HMAC_SECRET, "/publish", body, now - 10))
        self.assertEqual(status, 200, reply)


class PublishSocketAccessTest(AccessAssertions, SidecarTestCase):
    def test_unlisted_uid_gets_one_error_line_and_is_disconnected(self):
        sc = self.start_sidecar({"publish": {"allowed_uids": [other_uid()]}})
        client = self.stream(sc, ["public.x"])
        before = sc.metric(FORBIDDEN)
        pub = self.track(SocketPublisher(sc.socket_path))
        try:
            pub.send({"topic": "public.x", "data": "sneaky"})
        except OSError:
            pass  # already closed by the sidecar
        reply = pub.read_reply()
        self.assertIs(reply["ok"], False, reply)
        self.assertIn("uid", reply["error"])
        self.assertIn(str(os.getuid()), reply["error"])
        # Then the connection ends, with nothing more.
        pub.sock.settimeout(3)
        rest = b""
        while True:
            try:
                data = pub.sock.recv(4096)
            except ConnectionResetError:
                break
            if not data:
                break
            rest += data
        self.assertEqual(rest, b"")
        client.assert_no_event(0.2)
        self.assertEqual(sc.metric(FORBIDDEN), before + 1)
        # HTTP publishing is not affected by the socket allowlist.
        self.assertTrue(self.publish(sc, "public.x", "http"))

    def test_listed_uid_publishes(self):
        sc = self.start_sidecar({"publish": {"allowed_uids": [other_uid(), os.getuid()]}})
        client = self.stream(sc, ["public.x"])
        reply = self.publisher(sc).publish_ok("public.x", "allowed")
        self.assertEqual(client.next_event().id, reply["id"])

    def test_listed_gid_publishes(self):
        sc = self.start_sidecar({"publish": {"allowed_uids": [other_uid()],
                                             "allowed_gids": [os.getgid()]}})
        client = self.stream(sc, ["public.x"])
        reply = self.publisher(sc).publish_ok("public.x", "allowed by group")
        self.assertEqual(client.next_event().id, reply["id"])

    def test_socket_topics(self):
        sc = self.start_sidecar({"publish": {"socket_topics": ["public.sock.*"]}})
        client = self.stream(sc, ["public.*"])
        pub = self.publisher(sc)
        before = sc.metric(FORBIDDEN)
        reply = pub.publish_ok("public.sock.1", "ok")
        self.assertEqual(client.next_event().id, reply["id"])
        reply = pub.publish("public.other", "refused", ref=9)
        self.assertIs(reply["ok"], False, reply)
        self.assertEqual(reply.get("ref"), 9)
        self.assertIn("public.other", reply["error"])
        reply = pub.publish(None, "half", topics=["public.sock.2", "public.other"])
        self.assertIs(reply["ok"], False, reply)
        self.assertEqual(sc.metric(FORBIDDEN), before + 2)
        # The connection stays usable.
        reply = pub.publish_ok("public.sock.3", "still ok")
        self.assertEqual(client.next_event().id, reply["id"])
        client.assert_no_event(0.2)
        # HTTP publishing is not restricted by socket_topics.
        self.assertTrue(self.publish(sc, "public.other", "http"))


if __name__ == "__main__":
    unittest.main()
