"""Resume with Last-Event-ID (header or query parameter) and the `sidecar.missed` event."""

import json
import threading
import time
import unittest
from urllib.parse import quote

from sidecar_harness import SidecarTestCase, parse_id


class ResumeTest(SidecarTestCase):
    def _scenario(self, sc, resume, t1="public.r1", t2="public.r2", other="public.zz",
                  first_topics=None):
        """Reads, disconnects, misses events on two topics, resumes with `resume(last_id)`
        (which returns the new stream), and checks exactly the missed events then live ones."""
        pub = self.publisher(sc)
        first = self.stream(sc, first_topics or [t1, t2])
        e1 = pub.publish_ok(t1, "e1")
        e2 = pub.publish_ok(t2, "e2")
        pub.publish_ok(other, "not subscribed")
        seen = first.read_events(2)
        self.assertEqual([e.id for e in seen], [e1["id"], e2["id"]])
        first.close()

        missed = [pub.publish_ok(t1, "e4"),
                  pub.publish_ok(t2, "e5"),
                  pub.publish_ok(other, "still not subscribed"),
                  pub.publish_ok(None, "e7 on both", topics=[t1, t2]),
                  pub.publish_ok(t1, "e8")]
        expected = [m["id"] for i, m in enumerate(missed) if i != 2]

        second = resume(seen[-1].id)
        replayed = second.read_events(len(expected))
        self.assertEqual([e.id for e in replayed], expected)
        self.assertEqual([e.data for e in replayed], ["e4", "e5", "e7 on both", "e8"])
        second.assert_no_event(0.3)  # nothing twice, nothing extra
        live = pub.publish_ok(t2, "live")
        self.assertEqual(second.next_event().id, live["id"])
        second.assert_no_event(0.2)
        self.assertIdsIncrease([e.id for e in second.events])

    def test_resume_with_last_event_id_header(self):
        sc = self.start_sidecar()
        self._scenario(sc, lambda last: self.stream(
            sc, ["public.r1", "public.r2"], headers={"Last-Event-ID": last}))

    def test_resume_with_query_parameter(self):
        sc = self.start_sidecar()
        self._scenario(sc, lambda last: self.stream(
            sc, ["public.r1", "public.r2"], query="last_event_id=" + last))

    def test_resume_http10(self):
        sc = self.start_sidecar()
        self._scenario(sc, lambda last: self.stream(
            sc, ["public.r2", "public.r1"], headers={"Last-Event-ID": last}, http_version="1.0"))

    def test_resume_with_pattern(self):
        sc = self.start_sidecar()
        self._scenario(sc, lambda last: self.stream(
            sc, ["public.res.*"], headers={"Last-Event-ID": last}),
            t1="public.res.r1", t2="public.res.deep.r2", other="public.zz",
            first_topics=["public.res.*"])

    def test_header_wins_over_query_parameter(self):
        sc = self.start_sidecar()
        pub = self.publisher(sc)
        ids = [pub.publish_ok("public.w", str(i))["id"] for i in range(4)]
        client = self.stream(sc, ["public.w"], query="last_event_id=" + ids[0],
                             headers={"Last-Event-ID": ids[2]})
        self.assertEqual([e.id for e in client.read_events(1)], [ids[3]])
        client.assert_no_event(0.2)

    def test_resume_from_newest_id_gets_only_live_events(self):
        sc = self.start_sidecar()
        pub = self.publisher(sc)
        ids = [pub.publish_ok("public.n", str(i))["id"] for i in range(3)]
        client = self.stream(sc, ["public.n"], headers={"Last-Event-ID": ids[-1]})
        client.assert_no_event(0.3)
        live = pub.publish_ok("public.n", "live")
        self.assertEqual([e.id for e in client.read_events(1)], [live["id"]])

    def test_resume_on_topic_never_published(self):
        sc = self.start_sidecar()
        pub = self.publisher(sc)
        other = pub.publish_ok("public.elsewhere", "x")["id"]
        client = self.stream(sc, ["public.quiet"], headers={"Last-Event-ID": other})
        client.assert_no_event(0.3)  # not "missed": nothing was ever published there
        live = pub.publish_ok("public.quiet", "first")
        event = client.next_event()
        self.assertEqual((event.id, event.event), (live["id"], "message"))

    def test_empty_last_event_id_is_a_fresh_stream(self):
        sc = self.start_sidecar()
        pub = self.publisher(sc)
        pub.publish_ok("public.e", "old")
        for kw in ({"headers": {"Last-Event-ID": ""}}, {"query": "last_event_id="}):
            with self.subTest(**{k: str(v) for k, v in kw.items()}):
                client = self.stream(sc, ["public.e"], **kw)
                client.assert_no_event(0.2)
                live = pub.publish_ok("public.e", "new")
                self.assertEqual(client.next_event().id, live["id"])
                client.close()

    def test_reconnects_while_publishing_lose_and_repeat_nothing(self):
        sc = self.start_sidecar()
        total = 600
        done = threading.Event()
        errors = []

        def publish_all():
            try:
                with sc.publisher() as pub:
                    for start in range(0, total, 10):
                        pub.send(*[{"topic": "public.race", "data": str(start + i)}
                                   for i in range(10)])
                        for r in pub.read_replies(10):
                            if not r.get("ok"):
                                errors.append(r)
                        time.sleep(0.003)
            except Exception as e:  # reported by the main thread
                errors.append(e)
            finally:
                done.set()

        client = self.stream(sc, ["public.race"])
        thread = threading.Thread(target=publish_all, daemon=True)
        thread.start()
        received = []  # data values, across every connection
        connections = 0
        while True:
            batch = client.read_events(1, timeout=10)
            received.extend(batch)
            client.drain_available(0.01)
            received.extend(client.pending_events())
            client._consumed = len(client.events)
            if received and received[-1].data == str(total - 1):
                break
            if len(received) >= 40 * (connections + 1) and connections < 8:
                client.close()
                connections += 1
                client = self.stream(sc, ["public.race"],
                                     headers={"Last-Event-ID": received[-1].id})
        client.close()
        thread.join(10)
        self.assertFalse(errors, errors)
        self.assertGreaterEqual(connections, 3, "the publisher finished too early")
        data = [int(e.data) for e in received]
        self.assertEqual(data, list(range(data[0], total)),
                         "gap or duplicate across reconnects")
        seqs = [parse_id(e.id)[1] for e in received]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))))


class MissedTest(SidecarTestCase):
    def _assert_missed(self, event, resumed_from, newest_id):
        self.assertEqual(event.event, "sidecar.missed")
        self.assertEqual(event.id_field, newest_id, "sidecar.missed carries the newest id")
        body = json.loads(event.data)
        self.assertEqual(body["last_event_id"], resumed_from)
        self.assertIsInstance(body.get("reason"), str)

    def test_evicted_history_gives_missed_then_live_only(self):
        sc = self.start_sidecar({"history": {"max_events": 3}})
        pub = self.publisher(sc)
        ids = [pub.publish_ok("public.m", "m%d" % i)["id"] for i in range(10)]
        for http_version in ("1.1", "1.0"):
            with self.subTest(http=http_version):
                client = self.stream(sc, ["public.m"], headers={"Last-Event-ID": ids[0]},
                                     http_version=http_version)
                self._assert_missed(client.next_event(), ids[0], ids[-1])
                client.assert_no_event(0.3)  # the 3 kept events are not replayed
                live = pub.publish_ok("public.m", "live")
                ids.append(live["id"])
                event = client.next_event()
                self.assertEqual((event.id, event.data, event.event),
                                 (live["id"], "live", "message"))
                client.close()

    def test_resume_within_kept_history_is_not_missed(self):
        sc = self.start_sidecar({"history": {"max_events": 3}})
        pub = self.publisher(sc)
        ids = [pub.publish_ok("public.m", "m%d" % i)["id"] for i in range(10)]
        # ids[6] is the last evicted one: from there, the kept 7..9 are exactly what is missing.
        client = self.stream(sc, ["public.m"], headers={"Last-Event-ID": ids[6]})
        self.assertEqual([e.id for e in client.read_events(3)], ids[7:])
        client.assert_no_event(0.2)

    def test_missed_on_one_of_several_topics(self):
        sc = self.start_sidecar({"history": {"max_events": 3}})
        pub = self.publisher(sc)
        start = pub.publish_ok("public.fine", "a")["id"]
        for i in range(5):
            pub.publish_ok("public.evicted", str(i))
        newest = pub.publish_ok("public.fine", "b")["id"]
        client = self.stream(sc, ["public.fine", "public.evicted"],
                             headers={"Last-Event-ID": start})
        self._assert_missed(client.next_event(), start, newest)
        client.assert_no_event(0.2)

    def test_missed_id_resumes_cleanly(self):
        sc = self.start_sidecar({"history": {"max_events": 3}})
        pub = self.publisher(sc)
        ids = [pub.publish_ok("public.m", str(i))["id"] for i in range(10)]
        client = self.stream(sc, ["public.m"], headers={"Last-Event-ID": ids[0]})
        missed = client.next_event()
        self._assert_missed(missed, ids[0], ids[-1])
        client.close()
        later = pub.publish_ok("public.m", "later")["id"]
        # Resuming from the id of sidecar.missed reports no second gap.
        again = self.stream(sc, ["public.m"], headers={"Last-Event-ID": missed.id})
        event = again.next_event()
        self.assertEqual((event.event, event.id), ("message", later))
        again.assert_no_event(0.2)

    def test_unusable_last_event_ids_give_missed(self):
        sc = self.start_sidecar()
        pub = self.publisher(sc)
        ids = [pub.publish_ok("public.g", str(i))["id"] for i in range(3)]
        epoch, seq = parse_id(ids[-1])
        bad_ids = {
            "garbage": "garbage",
            "number only": "12345",
            "extra dash": "%d-1-2" % epoch,
            "negative": "%d--1" % epoch,
            "other epoch (later)": "%d-1" % (epoch + 1),
            "other epoch (earlier)": "%d-%d" % (epoch - 1000, seq),
            "from the future": "%d-%d" % (epoch, seq + 100),
        }
        for name, bad in bad_ids.items():
            for how in ("header", "query"):
                with self.subTest(id=name, via=how):
                    if how == "header":
                        client = self.stream(sc, ["public.g"], headers={"Last-Event-ID": bad})
                    else:
                        client = self.stream(sc, ["public.g"],
                                             query="last_event_id=" + quote(bad))
                    self._assert_missed(client.next_event(), bad, ids[-1])
                    client.assert_no_event(0.1)
                    live = pub.publish_ok("public.g", "live")
                    ids.append(live["id"])
                    self.assertEqual(client.next_event().id, live["id"])
                    client.close()

    def test_no_history_kept(self):
        sc = self.start_sidecar({"history": {"max_events": 0}})
        pub = self.publisher(sc)
        ids = [pub.publish_ok("public.z", str(i))["id"] for i in range(3)]
        client = self.stream(sc, ["public.z"], headers={"Last-Event-ID": ids[0]})
        self._assert_missed(client.next_event(), ids[0], ids[-1])
        self.assertEqual(sc.metric("sse_history_events"), 0)

    def test_history_max_bytes(self):
        sc = self.start_sidecar({"history": {"max_bytes": "4KiB"}})
        pub = self.publisher(sc)
        ids = [pub.publish_ok("public.b", "x" * 1000)["id"] for i in range(10)]
        kept = sc.metric("sse_history_events")
        self.assertGreater(kept, 0)
        self.assertLess(kept, 5)
        self.assertLessEqual(sc.metric("sse_history_bytes"), 4096)
        client = self.stream(sc, ["public.b"], headers={"Last-Event-ID": ids[0]})
        self._assert_missed(client.next_event(), ids[0], ids[-1])
        recent = self.stream(sc, ["public.b"], headers={"Last-Event-ID": ids[-3]})
        self.assertEqual([e.id for e in recent.read_events(2)], ids[-2:])

    def test_history_max_age(self):
        sc = self.start_sidecar({"history": {"max_age": "1s"}})
        pub = self.publisher(sc)
        ids = [pub.publish_ok("public.old", str(i))["id"] for i in range(3)]
        self.assertEqual(sc.metric("sse_history_events"), 3)
        # Housekeeping runs every second.
        sc.wait_metric("sse_history_events", lambda v: v == 0, timeout=5)
        client = self.stream(sc, ["public.old"], headers={"Last-Event-ID": ids[0]})
        self._assert_missed(client.next_event(), ids[0], ids[-1])


if __name__ == "__main__":
    unittest.main()
