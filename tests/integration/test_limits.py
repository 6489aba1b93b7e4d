"""Rate and connection limits: per-publisher publish rate (HTTP and socket), open streams per
client address, new connections per second per address, open streams per subject."""

import unittest

from sidecar_harness import SidecarTestCase, wait_until
from auth_helpers import AccessAssertions

PUB_ONE = "publisher-one-token-0123456789ab"
PUB_TWO = "publisher-two-token-0123456789ab"
ALICE = "alice-limits-token-0123456789abcd"
CAROL = "carol-limits-token-0123456789abcd"

RATE_LIMITED = 'sse_ingest_errors_total{kind="rate_limited"}'
LIMITED_PER_IP = 'sse_connections_limited_total{limit="per_ip"}'
LIMITED_IP_RATE = 'sse_connections_limited_total{limit="ip_rate"}'
LIMITED_SUBJECT = 'sse_connections_limited_total{limit="per_subject"}'


def bearer(token):
    return {"Authorization": "Bearer " + token}


class PublishRateTest(AccessAssertions, SidecarTestCase):
    def setUp(self):
        # burst 5 refilled at 1 per second: six quick publishes, the sixth is refused.
        self.sc = self.start_sidecar({"publish": {
            "tokens": [{"token": PUB_ONE, "name": "one"}, {"token": PUB_TWO, "name": "two"}],
            "rate": 1, "burst": 5}})
        self.client = self.stream(self.sc, ["public.r"])

    def test_http_publisher_over_its_rate_gets_429(self):
        sc = self.sc
        before = sc.metric(RATE_LIMITED)
        ids = []
        for i in range(5):
            status, _, body = sc.http_publish({"topic": "public.r", "data": str(i)}, token=PUB_ONE)
            self.assertEqual(status, 200, body)
            ids.append(body["id"])
        status, headers, body = sc.http_publish({"topic": "public.r", "data": "6th"},
                                                token=PUB_ONE)
        self.assertEqual(status, 429, body)
        self.assertIs(body["ok"], False)
        self.assertIn("rate", body["error"])
        retry_after = headers.get("retry-after", "")
        self.assertTrue(retry_after.isdigit() and int(retry_after) >= 1, headers)
        self.assertEqual(sc.metric(RATE_LIMITED), before + 1)
        self.assertEqual([e.id for e in self.client.read_events(5)], ids)
        self.client.assert_no_event(0.2)
        # Raw publishing shares the bucket.
        status, headers, body = sc.http_publish("raw", path="/publish/public.r", token=PUB_ONE)
        self.assertEqual(status, 429, body)
        self.assertTrue(headers.get("retry-after", "").isdigit(), headers)
        # Another publisher has its own bucket.
        status, _, body = sc.http_publish({"topic": "public.r", "data": "two"}, token=PUB_TWO)
        self.assertEqual(status, 200, body)
        self.assertEqual(self.client.next_event().data, "two")
        # The socket publisher too.
        self.assertTrue(self.publisher(sc).publish("public.r", "socket")["ok"])

    def test_array_over_the_rate(self):
        status, headers, body = self.sc.http_publish(
            [{"topic": "public.r", "data": str(i)} for i in range(7)], token=PUB_ONE)
        self.assertEqual(status, 429, body)
        self.assertEqual([r["ok"] for r in body], [True] * 5 + [False] * 2)
        self.assertTrue(headers.get("retry-after", "").isdigit(), headers)
        self.assertEqual([e.data for e in self.client.read_events(5)], [str(i) for i in range(5)])
        self.client.assert_no_event(0.2)

    def test_socket_publisher_over_its_rate_gets_an_error_reply(self):
        sc = self.sc
        before = sc.metric(RATE_LIMITED)
        pub = self.publisher(sc)
        pub.send(*[{"topic": "public.r", "data": str(i), "ref": i} for i in range(6)])
        replies = pub.read_replies(6)
        self.assertEqual([r["ok"] for r in replies], [True] * 5 + [False], replies)
        self.assertEqual(replies[5].get("ref"), 5)
        self.assertIn("rate", replies[5]["error"])
        self.assertEqual(sc.metric(RATE_LIMITED), before + 1)
        self.assertEqual(len(self.client.read_events(5)), 5)
        self.client.assert_no_event(0.2)
        pub.assert_open()
        # HTTP publishers are not affected by the socket peer's bucket.
        status, _, body = sc.http_publish({"topic": "public.r", "data": "http"}, token=PUB_ONE)
        self.assertEqual(status, 200, body)


class ConnectionLimitTest(AccessAssertions, SidecarTestCase):
    def assertLimited(self, answer, metric_before, metric_key, sc):
        self.assertRefused(answer, 429)
        retry_after = answer.headers.get("retry-after", "")
        self.assertTrue(retry_after.isdigit() and int(retry_after) >= 1, answer)
        self.assertEqual(sc.metric(metric_key), metric_before + 1)

    def test_max_connections_per_ip(self):
        sc = self.start_sidecar({"limits": {"max_connections_per_ip": 2}})
        before = sc.metric(LIMITED_PER_IP)
        first = self.stream(sc, ["public.a"])
        second = self.stream(sc, ["public.b"])
        self.assertLimited(self.get(sc, ["public.c"]), before, LIMITED_PER_IP, sc)
        # The open ones are unaffected.
        self.assertReceives(sc, first, "public.a")
        self.assertReceives(sc, second, "public.b")
        # Closing one frees a place.
        first.close()
        wait_until(lambda: sc.metric("sse_connections_open") == 1, 5, message="one stream left")
        third = self.stream(sc, ["public.c"])
        self.assertReceives(sc, third, "public.c")

    def test_connect_rate_per_ip(self):
        sc = self.start_sidecar({"limits": {"connect_rate_per_ip": 1,
                                            "connect_burst_per_ip": 2}})
        before = sc.metric(LIMITED_IP_RATE)
        self.assertEqual(self.get(sc, ["public.a"]).status, 200)
        self.assertEqual(self.get(sc, ["public.a"]).status, 200)
        self.assertLimited(self.get(sc, ["public.a"]), before, LIMITED_IP_RATE, sc)

    def test_max_connections_per_subject(self):
        sc = self.start_sidecar({
            "limits": {"max_connections_per_subject": 1},
            "access": {"tokens": [
                {"token": ALICE, "subject": "alice", "topics": ["private.*"]},
                {"token": CAROL, "subject": "carol", "topics": ["private.*"]}]}})
        before = sc.metric(LIMITED_SUBJECT)
        first = self.stream(sc, ["private.a"], headers=bearer(ALICE))
        self.assertLimited(self.get(sc, ["private.b"], bearer(ALICE)), before, LIMITED_SUBJECT,
                           sc)
        self.assertLimited(self.get(sc, ["private.a"], query="access_token=" + ALICE),
                           before + 1, LIMITED_SUBJECT, sc)
        # Another subject, and anonymous streams (never counted), are not limited.
        carol = self.stream(sc, ["private.a"], headers=bearer(CAROL))
        anonymous = [self.stream(sc, ["public.x"]) for _ in range(3)]
        self.assertReceives(sc, first, "private.a")
        self.assertEqual(carol.next_event().data, "to private.a")
        for client in anonymous:
            client.close()
        # Closing the subject's stream frees its place.
        first.close()
        wait_until(lambda: sc.metric("sse_connections_open") == 1, 5,
                   message="only carol's stream left")
        self.assertEqual(self.get(sc, ["private.a"], bearer(ALICE)).status, 200)
        self.assertEqual(sc.metric(LIMITED_SUBJECT), before + 2)


if __name__ == "__main__":
    unittest.main()
