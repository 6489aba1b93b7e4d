"""Delivery: fan-out, SSE framing, HTTP/1.0 vs 1.1, multi-topic and pattern streams, heartbeats,
slow consumers and disconnect cleanup."""

import select
import socket
import struct
import time
import unittest

from sidecar_harness import SidecarTestCase, parse_id, wait_until


class FanOutTest(SidecarTestCase):
    def test_fifty_subscribers_receive_every_event_in_order(self):
        sc = self.start_sidecar()
        clients = [self.stream(sc, ["public.fanout"]) for _ in range(50)]
        pub = self.publisher(sc)
        n = 20
        replies = []
        for i in range(n):
            reply = pub.publish("public.fanout", "event %d" % i, ref=i)
            self.assertIs(reply["ok"], True, reply)
            self.assertEqual(reply["subscribers"], 50, reply)
            self.assertEqual(reply["ref"], i, reply)
            self.assertEqual(set(reply), {"ok", "id", "subscribers", "ref"}, reply)
            replies.append(reply)
        ids = [r["id"] for r in replies]
        self.assertIdsIncrease(ids)
        for c in clients:
            events = c.read_events(n)
            self.assertEqual([e.id for e in events], ids)
            self.assertEqual([e.id_field for e in events], ids)  # each event carries its id
            self.assertEqual([e.data for e in events], ["event %d" % i for i in range(n)])
            self.assertTrue(all(e.event == "message" for e in events))
        # Nothing more than what was published.
        clients[0].assert_no_event(0.2)

    def test_reply_shape_and_ref_echo(self):
        sc = self.start_sidecar()
        pub = self.publisher(sc)
        # No subscribers: still accepted, subscribers 0; reply without ref has no ref key.
        reply = pub.publish("public.nobody", "x")
        self.assertEqual(reply["ok"], True)
        self.assertEqual(reply["subscribers"], 0)
        self.assertNotIn("ref", reply)
        parse_id(reply["id"])
        # Any JSON value is echoed as ref, unchanged.
        for ref in ["abc", 12.5, {"k": [1, 2]}, [1, "two"], None, False]:
            reply = pub.publish("public.nobody", "x", ref=ref)
            self.assertEqual(reply["ok"], True, reply)
            self.assertIn("ref", reply)
            self.assertEqual(reply["ref"], ref)

    def test_ids_increase_across_topics_and_publishers(self):
        sc = self.start_sidecar()
        p1, p2 = self.publisher(sc), self.publisher(sc)
        ids = []
        for i in range(10):
            ids.append(p1.publish_ok("public.t%d" % (i % 3), "a")["id"])
            ids.append(p2.publish_ok("public.u", "b")["id"])
        status, _, body = sc.http_publish({"topic": "public.v", "data": "c"})
        self.assertEqual(status, 200)
        ids.append(body["id"])
        self.assertIdsIncrease(ids)
        seqs = [parse_id(i)[1] for i in ids]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))))


class FramingTest(SidecarTestCase):
    @classmethod
    def setUpClass(cls):
        cls.cases = [
            ("multi-line LF", {"data": "one\ntwo\nthree"}, "message", "one\ntwo\nthree"),
            ("multi-line CRLF", {"data": "one\r\ntwo\r\nthree"}, "message", "one\ntwo\nthree"),
            ("multi-line CR", {"data": "one\rtwo\rthree"}, "message", "one\ntwo\nthree"),
            ("mixed endings", {"data": "a\r\nb\rc\nd"}, "message", "a\nb\nc\nd"),
            ("blank lines inside", {"data": "a\n\nb"}, "message", "a\n\nb"),
            ("trailing newline", {"data": "tail\n"}, "message", "tail\n"),
            ("empty", {"data": ""}, "message", ""),
            ("unicode", {"data": "héllo ✓ 你好 🎉"}, "message", "héllo ✓ 你好 🎉"),
            ("field-like text", {"data": "id: 5\nevent: x\n: c"}, "message", "id: 5\nevent: x\n: c"),
            ("leading space", {"data": " spaced"}, "message", " spaced"),
            ("event name", {"event": "user.updated", "data": "x"}, "user.updated", "x"),
            ("unicode event name", {"event": "änderung", "data": "x"}, "änderung", "x"),
            ("json object", {"data": {"a": 1}}, "message", '{"a":1}'),
            ("json array", {"data": [1, "two", None]}, "message", '[1,"two",null]'),
            ("json number", {"data": 42}, "message", "42"),
            ("json true", {"data": True}, "message", "true"),
            ("json null", {"data": None}, "message", "null"),
            ("no data field", {}, "message", ""),
        ]

    def _roundtrip(self, http_version):
        sc = self.start_sidecar()
        client = self.stream(sc, ["public.frame"], http_version=http_version)
        pub = self.publisher(sc)
        ids = []
        for name, fields, _, _ in self.cases:
            message = dict(fields, topic="public.frame")
            pub.send(message)
            reply = pub.read_reply()
            self.assertTrue(reply["ok"], (name, reply))
            ids.append(reply["id"])
        events = client.read_events(len(self.cases))
        for (name, _, event_type, data), event, event_id in zip(self.cases, events, ids):
            with self.subTest(case=name, http=http_version):
                self.assertEqual(event.event, event_type)
                self.assertEqual(event.data, data)
                self.assertEqual(event.id, event_id)
        return sc, client

    def test_payloads_arrive_intact_chunked(self):
        _, client = self._roundtrip("1.1")
        body = bytes(client.body)
        # CR/LF in data only ever start new data: lines.
        self.assertIn(b"data: one\ndata: two\ndata: three\n\n", body)
        self.assertNotIn(b"\r", body)
        self.assertIn("data: héllo ✓ 你好 🎉\n".encode("utf-8"), body)
        # An empty payload still gets a data line, so browsers dispatch it.
        self.assertRegex(body, rb"\nid: \d+-\d+\ndata:\n\n")

    def test_payloads_arrive_intact_http10(self):
        self._roundtrip("1.0")

    def test_stream_headers_and_retry(self):
        sc = self.start_sidecar({"stream": {"retry": "1500ms"}})
        client = self.stream(sc, ["public.h"])
        self.assertEqual(client.status, 200)
        self.assertTrue(client.headers["content-type"].startswith("text/event-stream"),
                        client.headers)
        self.assertEqual(client.headers.get("cache-control"), "no-cache")
        self.assertEqual(client.headers.get("x-accel-buffering"), "no")
        self.assertNotIn("content-length", client.headers)
        # The first body bytes are the reconnect delay.
        self.assertTrue(bytes(client.body).startswith(b"retry: 1500\n\n"), bytes(client.body))
        self.assertEqual(client.retry, 1500)
        self.assertEqual(client.events, [])  # retry alone dispatches nothing

    def test_per_event_retry(self):
        sc = self.start_sidecar()
        client = self.stream(sc, ["public.r"])
        self.publisher(sc).publish_ok("public.r", "x", retry=4321)
        event = client.next_event()
        self.assertEqual(event.retry, 4321)
        self.assertEqual(client.retry, 4321)
        self.assertEqual(event.data, "x")


class HttpVersionTest(SidecarTestCase):
    def test_http10_gets_unchunked_stream(self):
        sc = self.start_sidecar()
        client = self.stream(sc, ["public.v"], http_version="1.0")
        self.assertTrue(client.version.startswith("HTTP/1."))
        self.assertNotIn("transfer-encoding", client.headers)
        self.assertNotIn("content-length", client.headers)
        reply = self.publisher(sc).publish_ok("public.v", "plain")
        event = client.next_event()
        self.assertEqual((event.id, event.data), (reply["id"], "plain"))
        # The body is raw SSE: no chunk-size lines.
        wire_body = bytes(client.wire).split(b"\r\n\r\n", 1)[1]
        self.assertTrue(wire_body.startswith(b"retry: 3000\n\n"), wire_body)
        self.assertIn(("id: %s\ndata: plain\n\n" % reply["id"]).encode(), wire_body)
        self.assertNotIn(b"\r\n", wire_body)

    def test_http11_gets_chunked_stream(self):
        sc = self.start_sidecar()
        client = self.stream(sc, ["public.v"], http_version="1.1")
        self.assertTrue(client.version == "HTTP/1.1", client.version)
        self.assertEqual(client.headers.get("transfer-encoding"), "chunked")
        reply = self.publisher(sc).publish_ok("public.v", "chunky")
        client.next_event()
        wire_body = bytes(client.wire).split(b"\r\n\r\n", 1)[1]
        frame = ("id: %s\ndata: chunky\n\n" % reply["id"]).encode()
        self.assertTrue(wire_body.startswith(b"d\r\nretry: 3000\n\n\r\n"), wire_body)
        self.assertIn(b"%x\r\n" % len(frame) + frame + b"\r\n", wire_body)


class TopicSelectionTest(SidecarTestCase):
    def test_multi_topic_stream(self):
        sc = self.start_sidecar()
        client = self.stream(sc, ["public.a", "public.b"])
        pub = self.publisher(sc)
        expected = []
        for topic in ["public.a", "public.c", "public.b", "public.a.sub", "public.a"]:
            reply = pub.publish_ok(topic, topic)
            if topic in ("public.a", "public.b"):
                expected.append((reply["id"], topic))
        events = client.read_events(len(expected))
        self.assertEqual([(e.id, e.data) for e in events], expected)
        client.assert_no_event(0.2)

    def test_pattern_stream(self):
        sc = self.start_sidecar()
        client = self.stream(sc, ["public.*"])
        pub = self.publisher(sc)
        expected = []
        for topic in ["public.x", "other.x", "public.deep.er.topic", "publicity", "public"]:
            reply = pub.publish_ok(topic, topic)
            if topic.startswith("public."):
                expected.append((reply["id"], topic))
        events = client.read_events(len(expected))
        self.assertEqual([(e.id, e.data) for e in events], expected)
        client.assert_no_event(0.2)

    def test_nested_pattern_stream(self):
        sc = self.start_sidecar()
        client = self.stream(sc, ["public.game.*"])
        pub = self.publisher(sc)
        pub.publish_ok("public.game", "no: the prefix itself")
        r1 = pub.publish_ok("public.game.1", "yes")
        pub.publish_ok("public.gamer.1", "no")
        r2 = pub.publish_ok("public.game.1.move", "yes deep")
        events = client.read_events(2)
        self.assertEqual([e.id for e in events], [r1["id"], r2["id"]])
        client.assert_no_event(0.2)

    def test_pattern_followed_by_other_topics(self):
        # Every entry of the list counts, whatever its position.
        sc = self.start_sidecar()
        pub = self.publisher(sc)
        for n, topics in enumerate([["a.*", "b"], ["a.*", "b.*"], ["b", "a.*"],
                                    ["a.*", "a.x", "b"]]):
            ns = "public.case%d." % n  # a namespace per case: failures do not leak
            topics = [ns + t for t in topics]
            with self.subTest(topics=topics):
                client = self.stream(sc, topics)
                r1 = pub.publish_ok(ns + "a.x", "a")
                r2 = pub.publish_ok(ns + "b" if ns + "b" in topics else ns + "b.y", "b")
                pub.publish_ok(ns + "c", "c")
                self.assertEqual([(e.id, e.data) for e in client.collect(2, timeout=1.5)],
                                 [(r1["id"], "a"), (r2["id"], "b")], "events delivered")
                client.assert_no_event(0.1)
                self.assertEqual((r1["subscribers"], r2["subscribers"]), (1, 1))

    def test_event_on_several_subscribed_topics_arrives_once(self):
        sc = self.start_sidecar()
        both = self.stream(sc, ["public.x", "public.y"])
        overlap = self.stream(sc, ["public.*", "public.x"])
        only_y = self.stream(sc, ["public.y"])
        pub = self.publisher(sc)
        r1 = pub.publish_ok(None, "twice?", topics=["public.x", "public.y"])
        r2 = pub.publish_ok("public.x", "marker")
        for client in (both, overlap):
            events = client.read_events(2)
            self.assertEqual([(e.id, e.data) for e in events],
                             [(r1["id"], "twice?"), (r2["id"], "marker")])
            client.assert_no_event(0.2)
        event = only_y.next_event()
        self.assertEqual(event.id, r1["id"])
        only_y.assert_no_event(0.2)
        # The reply counts streams, as they receive it: three, each once.
        self.assertEqual(r1["subscribers"], 3, "subscribers counted per topic, not per stream")
        self.assertEqual(r2["subscribers"], 2)
        http = pub.publish_ok(None, "again", topics=["public.y", "public.x", "public.z"])
        self.assertEqual(http["subscribers"], 3)

    def test_duplicate_topic_parameters_deliver_once(self):
        sc = self.start_sidecar()
        client = self.stream(sc, ["public.d", "public.e", "public.d"])
        pub = self.publisher(sc)
        r1 = pub.publish_ok("public.d", "1")
        r2 = pub.publish_ok("public.d", "2")
        self.assertEqual([e.id for e in client.read_events(2)], [r1["id"], r2["id"]])
        client.assert_no_event(0.2)
        # One stream, counted once (duplicates are normalised away).
        self.assertEqual(r1["subscribers"], 1, "a stream asking twice for one topic is counted "
                                               "twice in the publish reply")


class HeartbeatTest(SidecarTestCase):
    def test_idle_stream_gets_comment_lines(self):
        sc = self.start_sidecar({"stream": {"heartbeat_interval": "200ms"}})
        chunked = self.stream(sc, ["public.idle"])
        plain = self.stream(sc, ["public.idle"], http_version="1.0")
        for client in (chunked, plain):
            client.wait_for(lambda c=client: len(c.comments) >= 2, 5, "two heartbeats")
            self.assertEqual(client.events, [])
            self.assertTrue(client.comments[0] == "" or client.comments[0].startswith(" "))
            self.assertFalse(client.eof)
        self.assertIn(b"\n:", bytes(chunked.body))
        # Heartbeats do not disturb delivery.
        reply = self.publisher(sc).publish_ok("public.idle", "after")
        self.assertEqual(chunked.next_event().id, reply["id"])
        self.assertEqual(plain.next_event().id, reply["id"])


    def test_no_stream_is_silent_longer_than_the_interval(self):
        """A proxy read timeout just above stream.heartbeat_interval must never cut a stream:
        whatever the phase of its last byte, the next one follows within the interval (a tick
        per interval allowed up to two intervals of silence)."""
        interval = 0.6
        sc = self.start_sidecar({"stream": {"heartbeat_interval": "600ms"}})
        pub = self.publisher(sc)
        clients, arrivals = {}, {}

        def pump(seconds):
            # Notes when bytes arrive on each stream, from its opening on.
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                ready, _, _ = select.select(list(clients), [], [], 0.02)
                for sock in ready:
                    clients[sock].drain_available(0.001)
                    arrivals[sock].append(time.monotonic())

        for i in range(6):
            c = self.stream(sc, ["public.quiet"])
            clients[c.sock], arrivals[c.sock] = c, [time.monotonic()]
            pump(interval / 6)  # streams at every phase of the timer
        # Events at odd moments: each leaves its streams idle from another phase.
        for i in range(3):
            pub.publish_ok("public.quiet", str(i))
            pump(interval * 0.37)
        pump(4 * interval)
        for sock, c in clients.items():
            times = arrivals[sock]
            gaps = [b - a for a, b in zip(times, times[1:])]
            self.assertGreaterEqual(len(gaps), 6, "heartbeats on an idle stream")
            self.assertLess(max(gaps), interval + 0.1,
                            "a stream went %.2f s without a byte (interval %.1f s)"
                            % (max(gaps), interval))
            self.assertEqual(len(c.events), 3)
            self.assertFalse(c.eof)


class SlowConsumerTest(SidecarTestCase):
    def test_slow_consumer_is_disconnected_fast_one_gets_everything(self):
        sc = self.start_sidecar({"limits": {"subscriber_buffer_bytes": "64KiB"}})
        slow = self.stream(sc, ["public.flood"], rcvbuf=4096)  # and never reads again
        fast = self.stream(sc, ["public.flood"])
        pub = self.publisher(sc)
        payload = "p" * 2048
        ids = []
        batch = 20
        # At least 2000 events of 2 KB; keep going (up to a cap) until the slow stream was
        # dropped: the kernel's socket buffers absorb an unknown amount before the sidecar's
        # 64 KiB bound is reached.
        while len(ids) < 2000 or (replies[-1]["subscribers"] > 1 and len(ids) < 10000):
            pub.send(*[{"topic": "public.flood", "data": payload, "ref": len(ids) + i}
                       for i in range(batch)])
            replies = pub.read_replies(batch)
            for i, r in enumerate(replies):
                self.assertTrue(r["ok"], r)
                self.assertEqual(r["ref"], len(ids) + i)
            ids.extend(r["id"] for r in replies)
            events = fast.read_events(batch)
            self.assertEqual([e.id for e in events], ids[-batch:])
            self.assertTrue(all(e.data == payload for e in events))
        self.assertEqual(replies[-1]["subscribers"], 1, "slow stream never disconnected")
        self.assertFalse(fast.eof)
        self.assertEqual(len(fast.events), len(ids))

        # The slow stream got a prefix of the events, then the connection was closed.
        slow.read_to_eof(timeout=10)
        self.assertLess(len(slow.events), len(ids))
        self.assertEqual([e.id for e in slow.events], ids[:len(slow.events)])
        self.assertFalse(slow.ended_cleanly)

        m = sc.metrics()
        self.assertGreaterEqual(m["sse_slow_consumer_disconnects_total"], 1)
        self.assertGreaterEqual(m['sse_connections_closed_total{reason="slow_consumer"}'], 1)
        # Every event it had queued and never got counts, not one per disconnect: with a
        # 64 KiB bound and 2 KiB events, about 30 of them.
        self.assertGreaterEqual(m["sse_events_dropped_total"], 20)
        self.assertLessEqual(m["sse_events_dropped_total"], len(ids) - len(slow.events))
        self.assertEqual(m["sse_connections_open"], 1)
        self.assertIn("slow consumer", sc.log())

        # It can resume: with history it gets the rest, or is told it missed events.
        resumed = self.stream(sc, ["public.flood"],
                              headers={"Last-Event-ID": slow.events[-1].id if slow.events
                                       else ids[0]})
        first = resumed.next_event()
        if first.event == "sidecar.missed":
            self.assertEqual(first.id, ids[-1])
        else:
            self.assertIn(first.id, ids)


class DisconnectCleanupTest(SidecarTestCase):
    def test_connections_and_subscriber_counts_drop_after_disconnect(self):
        sc = self.start_sidecar()
        clients = [self.stream(sc, ["public.bye"]) for _ in range(5)]
        pattern = self.stream(sc, ["public.*"])
        pub = self.publisher(sc)
        self.assertEqual(pub.publish_ok("public.bye", "1")["subscribers"], 6)
        self.assertEqual(sc.metric("sse_connections_open"), 6)
        for c in clients[:3]:
            c.close()
        sc.wait_metric("sse_connections_open", lambda v: v == 3)
        self.assertEqual(pub.publish_ok("public.bye", "2")["subscribers"], 3)
        closed_by_client = sc.metric('sse_connections_closed_total{reason="client"}')
        self.assertGreaterEqual(closed_by_client, 3)
        for c in clients[3:] + [pattern]:
            c.close()
        sc.wait_metric("sse_connections_open", lambda v: v == 0)
        self.assertEqual(pub.publish_ok("public.bye", "3")["subscribers"], 0)
        self.assertEqual(pub.publish_ok("public.other", "3")["subscribers"], 0)
        self.assertGreaterEqual(sc.metric('sse_connections_closed_total{reason="client"}'), 6)

    def test_half_open_stream_does_not_leak_on_abrupt_reset(self):
        sc = self.start_sidecar()
        client = self.stream(sc, ["public.rst"])
        # RST instead of FIN.
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
        sc.wait_metric("sse_connections_open", lambda v: v == 0)
        pub = self.publisher(sc)
        wait_until(lambda: pub.publish_ok("public.rst", "x")["subscribers"] == 0, 3,
                   message="subscriber count back to 0")


if __name__ == "__main__":
    unittest.main()
