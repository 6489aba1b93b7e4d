"""Idempotent publish: a publisher that retries after a timeout sends the same idempotency_key,
and the retry is answered with the first publish's id instead of making a second event."""

import json
import unittest

from sidecar_harness import TOKEN, SidecarTestCase


class IdempotentPublishTest(SidecarTestCase):
    def test_a_retry_gets_the_first_id_and_no_second_event(self):
        sc = self.start_sidecar()
        stream = self.stream(sc, ["public.orders"])
        pub = self.publisher(sc)
        first = pub.publish_ok("public.orders", "placed", idempotency_key="order-17")
        retry = pub.publish("public.orders", "placed", idempotency_key="order-17")
        self.assertTrue(retry["ok"], retry)
        self.assertEqual(retry["id"], first["id"])
        self.assertTrue(retry.get("duplicate"), retry)
        self.assertNotIn("duplicate", first)
        other = pub.publish_ok("public.orders", "next", idempotency_key="order-18")
        plain = pub.publish_ok("public.orders", "unkeyed")
        # The stream sees three events: the retry made none.
        events = stream.read_events(3)
        self.assertEqual([e.id for e in events], [first["id"], other["id"], plain["id"]])
        self.assertEqual(sc.metric("sse_events_published_total"), 3)

    def test_the_key_works_over_http_too(self):
        sc = self.start_sidecar()
        body = json.dumps({"topic": "public.orders", "data": "x", "idempotency_key": "h-1"})
        headers = {"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"}
        status, _, first = sc.admin_request("POST", "/publish", body=body.encode(), headers=headers)
        self.assertEqual(status, 200, first)
        status, _, again = sc.admin_request("POST", "/publish", body=body.encode(), headers=headers)
        self.assertEqual(status, 200, again)
        first, again = json.loads(first), json.loads(again)
        self.assertEqual(again["id"], first["id"])
        self.assertTrue(again["duplicate"])

    def test_a_bad_key_is_refused_alone(self):
        sc = self.start_sidecar()
        pub = self.publisher(sc)
        bad = pub.publish("public.orders", "x", idempotency_key="with space")
        self.assertFalse(bad["ok"])
        self.assertIn("idempotency_key", bad["error"])
        pub.publish_ok("public.orders", "after")  # the connection goes on


if __name__ == "__main__":
    unittest.main()
