"""The latest value on subscribe: `since=latest` and `last=N` replay the newest event(s) of each
requested topic, with their real ids, before live ones; a later Last-Event-ID resume goes on
from them. The same checks run on the memory engine and on the Redis engine (two nodes on one
real redis-server: published on one, subscribed on the other)."""

import os
import threading
import time
import unittest

from redis_harness import redis_installed, sidecar_redis_support
from sidecar_harness import SIDECAR_BIN, SidecarTestCase, parse_id


def rows(events):
    return [(e.id, e.data) for e in events]


class LatestChecks:
    """Mixed into a test case whose nodes() returns (publishing node, subscribing node)."""

    def caught_up(self, a, b):
        """Returns once node b has every event node a committed so far: a node's latest events
        are those it has received, so one that is still receiving the newest gives older ones
        and then the newest as live events (no loss, no repeat, but not what is checked here).
        Events reach a node in id order, so a marker published after them comes after them."""
        if a is b:
            return
        watcher = self.stream(b, ["public.sync"])
        marker = self.publisher(a).publish_ok("public.sync", "marker")
        self.assertEqual(watcher.next_event().id, marker["id"])
        watcher.close()

    def test_since_latest_gives_the_newest_event_of_each_topic_then_live(self):
        a, b = self.nodes()
        pub = self.publisher(a)
        pub.publish_ok("public.px.acme", "10.00")
        acme = pub.publish_ok("public.px.acme", "10.50")
        pub.publish_ok("public.px.globex", "7.00")
        globex = pub.publish_ok("public.px.globex", "7.25")
        pub.publish_ok("public.px.other", "not asked for")
        self.caught_up(a, b)
        client = self.stream(b, ["public.px.acme", "public.px.globex", "public.px.quiet"],
                             query="since=latest")
        self.assertEqual(rows(client.read_events(2)),
                         [(acme["id"], "10.50"), (globex["id"], "7.25")])
        client.assert_no_event(0.3)  # nothing older, nothing for the quiet topic
        live = pub.publish_ok("public.px.quiet", "first")
        self.assertEqual(rows(client.read_events(1)), [(live["id"], "first")])
        client.assert_no_event(0.2)

    def test_last_n_gives_the_newest_n_of_each_topic_in_id_order(self):
        a, b = self.nodes()
        pub = self.publisher(a)
        ids = {}
        for i in range(5):
            for topic in ("public.job.1", "public.job.2"):
                ids[(topic, i)] = pub.publish_ok(topic, "%s %d%%" % (topic, i * 20))["id"]
        both = pub.publish_ok(None, "on both", topics=["public.job.1", "public.job.2"])
        self.caught_up(a, b)
        client = self.stream(b, ["public.job.1", "public.job.2"], query="last=3")
        expected = [ids[("public.job.1", 3)], ids[("public.job.2", 3)],
                    ids[("public.job.1", 4)], ids[("public.job.2", 4)], both["id"]]
        self.assertEqual([e.id for e in client.read_events(5)], expected)
        client.assert_no_event(0.3)  # the event on both topics came once

    def test_patterns(self):
        a, b = self.nodes()
        pub = self.publisher(a)
        pub.publish_ok("public.st.a", "a1")
        a2 = pub.publish_ok("public.st.a", "a2")
        deep = pub.publish_ok("public.st.x.y", "deep")
        pub.publish_ok("public.stx", "not under public.st.")
        self.caught_up(a, b)
        client = self.stream(b, ["public.st.*"], query="since=latest")
        self.assertEqual(rows(client.read_events(2)), [(a2["id"], "a2"), (deep["id"], "deep")])
        client.assert_no_event(0.3)

    def test_a_resume_goes_on_from_the_latest_ids(self):
        a, b = self.nodes()
        pub = self.publisher(a)
        pub.publish_ok("public.rs", "old")
        newest = pub.publish_ok("public.rs", "newest")
        self.caught_up(a, b)
        first = self.stream(b, ["public.rs"], query="since=latest")
        self.assertEqual(rows(first.read_events(1)), [(newest["id"], "newest")])
        first.close()
        missed = [pub.publish_ok("public.rs", "m%d" % i)["id"] for i in range(3)]
        # A browser reconnects to the same URL with Last-Event-ID: it resumes, so the latest
        # event is not given again.
        second = self.stream(a, ["public.rs"], query="since=latest",
                             headers={"Last-Event-ID": newest["id"]})
        self.assertEqual([e.id for e in second.read_events(3)], missed)
        second.assert_no_event(0.3)

    def test_nothing_lost_or_doubled_while_publishing(self):
        """Streams opened with since=latest while events keep coming: each gets one latest
        event, then every later one once, in order."""
        a, b = self.nodes()
        total = 300
        stop = threading.Event()
        errors = []

        def publish_all():
            try:
                with a.publisher() as pub:
                    for i in range(total):
                        pub.publish_ok("public.flow", str(i))
                        time.sleep(0.002)
            except Exception as e:  # reported below
                errors.append(e)
            finally:
                stop.set()

        self.publisher(a).publish_ok("public.flow", "-1")
        thread = threading.Thread(target=publish_all, daemon=True)
        thread.start()
        clients = []
        while not stop.is_set() and len(clients) < 10:
            clients.append(self.stream(b, ["public.flow"], query="since=latest"))
            time.sleep(0.03)
        thread.join(30)
        self.assertFalse(errors, errors)
        self.assertGreaterEqual(len(clients), 3, "the publisher finished too early")
        for k, client in enumerate(clients):
            events = []
            while not events or events[-1].data != str(total - 1):
                events.extend(client.read_events(1, timeout=10))
            data = [int(e.data) for e in events]
            self.assertEqual(data, list(range(data[0], total)), "stream %d: gap or repeat" % k)
            seqs = [parse_id(e.id)[1] for e in events]
            self.assertEqual(seqs, sorted(set(seqs)))

    def test_bad_parameters(self):
        _, b = self.nodes()
        for query, reason in (("since=yesterday", "since must be 'latest'"),
                              ("last=0", "last must be a whole number from 1 to"),
                              ("last=lots", "last must be a whole number from 1 to"),
                              ("last=100000", "(history.max_events)"),
                              ("since=latest&last=2", "either since=latest or last=N")):
            with self.subTest(query=query):
                client = self.stream(b, ["public.bad"], query=query, expect_status=400)
                self.assertIn(reason, bytes(client.read_body(timeout=3)).decode())


class MemoryLatestTest(LatestChecks, SidecarTestCase):
    def nodes(self):
        sc = self.start_sidecar()
        return sc, sc

    def test_history_off_gives_nothing_but_live(self):
        sc = self.start_sidecar({"history": {"max_events": 0}})
        pub = self.publisher(sc)
        pub.publish_ok("public.off", "not kept")
        client = self.stream(sc, ["public.off"], query="since=latest")
        client.assert_no_event(0.3)
        live = pub.publish_ok("public.off", "live")
        self.assertEqual(rows(client.read_events(1)), [(live["id"], "live")])


class RedisLatestTest(LatestChecks, SidecarTestCase):
    def setUp(self):
        # As test_redis_engine: skipped without redis-server or the engine, unless required.
        reason = None
        if not redis_installed():
            reason = "redis-server is not installed"
        else:
            supported, why = sidecar_redis_support(SIDECAR_BIN)
            reason = None if supported else why
        if reason:
            if os.environ.get("SIDECAR_REQUIRE_REDIS_ENGINE") == "1":
                self.fail(reason)
            self.skipTest(reason)
        super().setUp()

    def nodes(self):
        from redis_harness import RedisServer, redis_engine_overrides, unique_prefix
        self.redis = RedisServer()
        self.addCleanup(self.redis.cleanup)
        self.redis.start()
        self.prefix = unique_prefix()
        config = redis_engine_overrides(self.redis, self.prefix)
        return self.start_sidecar(config), self.start_sidecar(config)

    def calls(self, command):
        """How often Redis ran `command`, its scripts' calls included."""
        stats = self.redis.info("commandstats").get("cmdstat_" + command, "calls=0")
        return int(stats.split(",")[0].split("=")[1])

    def many_topics_and_a_pattern(self, a, b):
        """200 topics outside public.many.*, two under it; the newest of each of those two."""
        pub = self.publisher(a)
        for i in range(200):
            pub.publish_ok("public.else.%d" % i, "elsewhere")
        pub.publish_ok("public.many.a", "a1")
        newest = [pub.publish_ok("public.many.a", "a2"), pub.publish_ok("public.many.b", "b1")]
        self.caught_up(a, b)
        return [(newest[0]["id"], "a2"), (newest[1]["id"], "b1")]

    def test_a_pattern_reads_only_the_topics_under_its_stem(self):
        a, b = self.nodes()
        expected = self.many_topics_and_a_pattern(a, b)
        every_topic, by_name = self.calls("zrange"), self.calls("zrangebylex")
        client = self.stream(b, ["public.many.*"], query="since=latest")
        self.assertEqual(rows(client.read_events(2)), expected)
        client.assert_no_event(0.3)
        # One range of the index of names for the one stem, and no walk over every topic.
        self.assertEqual(self.calls("zrangebylex"), by_name + 1)
        self.assertEqual(self.calls("zrange"), every_topic)

    def test_a_pattern_is_served_while_the_index_of_names_is_incomplete(self):
        # Topics from a Redis written before the index existed are added to it slice by slice;
        # meanwhile a pattern reads every topic, and misses none.
        a, b = self.nodes()
        expected = self.many_topics_and_a_pattern(a, b)
        self.redis.command("DEL", self.prefix + "names")
        every_topic = self.calls("zrange")
        client = self.stream(b, ["public.many.*"], query="since=latest")
        self.assertEqual(rows(client.read_events(2)), expected)
        client.assert_no_event(0.3)
        self.assertEqual(self.calls("zrange"), every_topic + 1)


if __name__ == "__main__":
    unittest.main()
