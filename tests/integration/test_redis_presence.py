"""Presence over several nodes with the Redis engine: a subject with streams on two nodes joins
once and leaves once, when its last stream anywhere closes; GET /presence on any node lists every
node's subjects; the subjects of a node that crashed leave within its lease (10 s)."""

import json
import time
import unittest

from test_presence import ALICE, BOB, SUBSCRIBERS, auth
from sidecar_harness import TOKEN
from test_redis_engine import RedisEngineCase

PRESENCE = {
    "access": {"tokens": SUBSCRIBERS},
    "presence": {"rules": [{"topics": ["chat.*"], "event_topic": "presence.{topic}"}]},
}


class RedisPresenceTest(RedisEngineCase):
    def nodes(self, n=2):
        redis = self.start_redis()
        nodes, _ = self.start_redis_sidecars(redis, n, overrides=PRESENCE)
        return nodes

    def subjects(self, node, topic="chat.room"):
        status, _, body = node.admin_request("GET", "/presence?topic=" + topic,
                                             headers=auth(TOKEN))
        self.assertEqual(status, 200, body)
        return json.loads(body)["subjects"]

    def changes(self, watcher, wait=0.3):
        watcher.drain_available(wait)
        return [(e.event, json.loads(e.data)["subject"]) for e in watcher.events]

    def test_one_join_and_one_leave_for_streams_on_two_nodes(self):
        a, b = self.nodes()
        watcher = self.stream(b, ["presence.chat.room"], headers=auth(BOB))
        on_a = self.stream(a, ["chat.room"], headers=auth(ALICE))
        on_b = self.stream(b, ["chat.room"], headers=auth(ALICE))
        self.wait_until_changes(watcher, [("sidecar.join", "alice")])
        # Every node sees both nodes' subjects.
        self.assertEqual(self.subjects(a), ["alice"])
        self.assertEqual(self.subjects(b), ["alice"])
        on_a.close()
        time.sleep(0.5)
        self.assertEqual(self.changes(watcher), [("sidecar.join", "alice")],
                         "a leave while alice still has a stream on node b")
        self.assertEqual(self.subjects(a), ["alice"])
        on_b.close()
        self.wait_until_changes(watcher, [("sidecar.join", "alice"), ("sidecar.leave", "alice")])
        self.assertEqual(self.subjects(a), [])
        self.assertEqual(self.subjects(b), [])

    def test_a_crashed_nodes_subjects_leave_within_its_lease(self):
        a, b = self.nodes()
        watcher = self.stream(b, ["presence.chat.room"], headers=auth(BOB))
        self.stream(a, ["chat.room"], headers=auth(ALICE))
        self.wait_until_changes(watcher, [("sidecar.join", "alice")])
        crashed_at = time.monotonic()
        a.kill()
        self.wait_until_changes(watcher, [("sidecar.join", "alice"), ("sidecar.leave", "alice")],
                                timeout=20)
        took = time.monotonic() - crashed_at
        self.assertGreater(took, 5, "left before the lease could have expired")
        self.assertEqual(self.subjects(b), [])

    def test_disconnect_on_one_node_ends_the_subjects_streams_on_every_node(self):
        a, b = self.nodes()
        alice_a = self.stream(a, ["chat.room"], headers=auth(ALICE))
        alice_b = self.stream(b, ["chat.room"], headers=auth(ALICE))
        bob_a = self.stream(a, ["chat.room"], headers=auth(BOB))
        status, _, body = b.admin_request("POST", "/disconnect?subject=alice", headers=auth(TOKEN))
        self.assertEqual(status, 202, body)
        for stream in (alice_a, alice_b):
            event = stream.next_event(timeout=5)
            self.assertEqual(event.event, "sidecar.revoked")
            stream.read_to_eof(timeout=5)
        # Bob's stream, on the node that did not take the request, goes on.
        reply = self.publisher(b).publish_ok("chat.room", "still here")
        self.assertEqual(bob_a.next_event(timeout=5).id, reply["id"])

    def wait_until_changes(self, watcher, expected, timeout=5):
        deadline = time.monotonic() + timeout
        while True:
            got = self.changes(watcher, 0.1)
            if got == expected:
                return
            self.assertLess(time.monotonic(), deadline, "presence changes: %r, expected %r"
                            % (got, expected))
            self.assertTrue(len(got) <= len(expected) and got == expected[:len(got)],
                            "presence changes: %r, expected %r" % (got, expected))


if __name__ == "__main__":
    unittest.main()
