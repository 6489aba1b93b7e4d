"""Introspection on the admin listener: GET /topics, GET /streams, the admin page (GET /admin)
and its live figures (GET /admin/events), against the real binary with real streams.

* /topics lists every exact topic with history or subscribers on this node, by name, with
  prefix= and limit= (default 1000) and a total; with the Redis engine the history figures come
  from Redis (every node's), the subscribers are the node's own.
* /streams lists the open streams, gathered from every worker, with topic=, subject=, peer= and
  limit= (default 100) and a total.
* Both need a publisher credential without topic limits (Bearer token or HMAC signature):
  401 without or with a wrong one, 403 for a topic-limited one or when none is configured.
* Bad parameters get 400 with a one-line reason.
"""

import hashlib
import hmac
import json
import os
import shutil
import signal
import tempfile
import time
import unittest
from urllib.parse import quote

from redis_harness import RedisTestCase, redis_installed, sidecar_redis_support
from sidecar_harness import (SIDECAR_BIN, TOKEN, SidecarTestCase, SSEClient, wait_until)

ALICE = "alice-introspection-token-0123456789"
BOB = "bob-introspection-token-0123456789"
SUBSCRIBERS = [
    {"token": ALICE, "subject": "alice", "topics": ["chat.*"]},
    {"token": BOB, "subject": "bob", "topics": ["chat.*"]},
]
LIMITED = "limited-publisher-token-0123456789"
HMAC_SECRET = "introspection-hmac-secret-0123456789"


def bearer(token):
    return {"Authorization": "Bearer " + token}


def signed_get(target, secret=HMAC_SECRET):
    ts = str(int(time.time()))
    message = ("%s\nGET %s\n" % (ts, target)).encode("utf-8")
    sig = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return {"X-Sidecar-Timestamp": ts, "X-Sidecar-Signature": "sha256=" + sig}


class IntrospectionCase(SidecarTestCase):
    def get(self, sc, target, token=TOKEN, headers=None, expect=200):
        h = dict(headers or {})
        if token is not None:
            h.update(bearer(token))
        status, rh, body = sc.admin_request("GET", target, headers=h)
        text = body.decode("utf-8")
        self.assertEqual(status, expect, "GET %s: %s" % (target, text))
        self.assertIn("application/json", rh.get("content-type", ""), target)
        self.assertTrue(text.endswith("\n") and text.count("\n") == 1, "one line: %r" % text)
        return json.loads(text), rh

    def topics(self, sc, query=""):
        return self.get(sc, "/topics" + ("?" + query if query else ""))[0]

    def streams(self, sc, query=""):
        return self.get(sc, "/streams" + ("?" + query if query else ""))[0]

    @staticmethod
    def by_topic(answer):
        return {t["topic"]: t for t in answer["topics"]}


class TopicsTest(IntrospectionCase):
    def test_history_and_subscribers_per_topic(self):
        sc = self.start_sidecar()
        on_a = self.stream(sc, ["public.a"])
        self.stream(sc, ["public.b"])
        self.stream(sc, ["public.b", "public.a"])
        self.stream(sc, ["public.*"])  # a pattern: a subscriber of every public topic
        pub = self.publisher(sc)
        before = int(time.time() * 1000)
        for data in ("one", "two", "three"):
            pub.publish_ok("public.a", data)
        pub.publish_ok("public.c", "nobody on it but the pattern")
        after = int(time.time() * 1000)
        self.assertEqual(on_a.read_events(3)[-1].data, "three")

        answer = self.topics(sc)
        self.assertEqual(answer["engine"], "memory")
        self.assertEqual([t["topic"] for t in answer["topics"]],
                         ["public.a", "public.b", "public.c"])
        self.assertEqual(answer["total"], 3)
        self.assertIs(answer["truncated"], False)
        self.assertEqual(answer["limit"], 1000)
        a, b, c = answer["topics"]
        self.assertEqual(a["local_subscribers"], 3)
        self.assertEqual(b["local_subscribers"], 3)
        self.assertEqual(c["local_subscribers"], 1)
        self.assertEqual(a["history_events"], 3)
        self.assertEqual(b["history_events"], 0)  # subscribed, never published
        self.assertEqual(c["history_events"], 1)
        self.assertGreater(a["history_bytes"], c["history_bytes"])
        self.assertEqual(b["history_bytes"], 0)
        self.assertIsNone(b["last_publish_ms"])
        for t in (a, c):
            self.assertGreaterEqual(t["last_publish_ms"], before - 5)
            self.assertLessEqual(t["last_publish_ms"], after + 5)
        # Events/s over the last minute (from 50 to 60 s of it): 3 events.
        self.assertGreater(a["publish_rate"], 0)
        self.assertLessEqual(a["publish_rate"], 3 / 50)
        self.assertEqual(b["publish_rate"], 0)

    def test_subscribers_follow_streams_that_close(self):
        sc = self.start_sidecar()
        client = self.stream(sc, ["public.only"])
        self.assertEqual(self.by_topic(self.topics(sc))["public.only"]["local_subscribers"], 1)
        client.close()
        wait_until(lambda: self.topics(sc)["total"] == 0, message="public.only to go")

    def test_prefix_limit_and_total(self):
        sc = self.start_sidecar()
        pub = self.publisher(sc)
        for name in ("public.x.1", "public.x.2", "public.x.3", "public.y.1", "public.xz"):
            pub.publish_ok(name, "d")
        self.stream(sc, ["public.x.0"])  # subscribed only, first in name order
        answer = self.topics(sc, "prefix=public.x.")
        self.assertEqual([t["topic"] for t in answer["topics"]],
                         ["public.x.0", "public.x.1", "public.x.2", "public.x.3"])
        self.assertEqual(answer["total"], 4)
        self.assertEqual(answer["prefix"], "public.x.")
        page = self.topics(sc, "prefix=public.x&limit=2")
        self.assertEqual([t["topic"] for t in page["topics"]], ["public.x.0", "public.x.1"])
        self.assertEqual(page["total"], 5)  # public.xz starts with public.x too
        self.assertIs(page["truncated"], True)
        self.assertEqual(self.topics(sc, "prefix=nothing.")["topics"], [])
        self.assertEqual(self.topics(sc, "prefix=nothing.")["total"], 0)

    def test_the_default_limit_bounds_the_answer(self):
        sc = self.start_sidecar()
        pub = self.publisher(sc)
        pub.send(*({"topic": "public.t%04d" % i, "data": "x"} for i in range(1005)))
        replies = pub.read_replies(1005, timeout=20)
        self.assertTrue(all(r["ok"] for r in replies))
        answer = self.topics(sc)
        self.assertEqual(len(answer["topics"]), 1000)
        self.assertEqual(answer["total"], 1005)
        self.assertIs(answer["truncated"], True)
        self.assertEqual(answer["topics"][0]["topic"], "public.t0000")
        self.assertEqual(answer["topics"][-1]["topic"], "public.t0999")
        self.assertEqual(len(self.topics(sc, "limit=10000")["topics"]), 1005)


class StreamsTest(IntrospectionCase):
    def start(self):
        return self.start_sidecar({"access": {"tokens": SUBSCRIBERS}})

    def test_each_stream_with_its_figures(self):
        sc = self.start()
        anonymous = self.stream(sc, ["public.news"])
        time.sleep(0.05)  # so that the two are told apart by age
        alice = self.stream(sc, ["chat.room", "chat.more.*"], headers=bearer(ALICE))
        pub = self.publisher(sc)
        pub.publish_ok("chat.room", "hello")
        pub.publish_ok("chat.room", "again")
        alice.read_events(2)
        answer = self.streams(sc)
        self.assertEqual(answer["total"], 2)
        self.assertEqual(answer["limit"], 100)
        self.assertIs(answer["truncated"], False)
        first, second = answer["streams"]  # the oldest first
        self.assertEqual(first["topics"], ["public.news"])
        self.assertNotIn("subject", first)
        self.assertEqual(first["auth"], "anonymous")
        self.assertEqual(first["events_sent"], 0)
        self.assertEqual(second["subject"], "alice")
        self.assertEqual(second["auth"], "token")
        self.assertEqual(sorted(second["topics"]), ["chat.more.*", "chat.room"])
        self.assertEqual(second["events_sent"], 2)
        self.assertGreaterEqual(first["age_s"], second["age_s"])
        for s in (first, second):
            self.assertEqual(s["peer"], "127.0.0.1")
            self.assertEqual(s["protocol"], "h1")
            self.assertIn(s["worker"], (0, 1))
            self.assertRegex(s["id"], r"^%d-\d+$" % s["worker"])
            self.assertGreater(s["bytes_sent"], 0)  # the stream head and retry: at least
            self.assertEqual(s["buffered_bytes"], 0)
        # What alice was sent is more than the anonymous stream's head.
        self.assertGreater(second["bytes_sent"], first["bytes_sent"])
        anonymous.close()
        wait_until(lambda: self.streams(sc)["total"] == 1, message="the closed stream to go")

    def test_filters_and_limit(self):
        sc = self.start()
        for _ in range(3):
            self.stream(sc, ["chat.room"], headers=bearer(ALICE))
        self.stream(sc, ["chat.*"], headers=bearer(BOB))
        self.stream(sc, ["public.other"])

        def subjects(query):
            answer = self.streams(sc, query)
            return answer["total"], sorted(s.get("subject", "-") for s in answer["streams"])

        self.assertEqual(subjects(""), (5, ["-", "alice", "alice", "alice", "bob"]))
        # An exact topic: the streams its events reach, patterns included.
        self.assertEqual(subjects("topic=chat.room"), (4, ["alice", "alice", "alice", "bob"]))
        # A pattern: the streams subscribed to that pattern.
        self.assertEqual(subjects("topic=chat.*"), (1, ["bob"]))
        self.assertEqual(subjects("subject=alice"), (3, ["alice"] * 3))
        self.assertEqual(subjects("subject=bob&topic=chat.room"), (1, ["bob"]))
        self.assertEqual(subjects("subject=carol"), (0, []))
        self.assertEqual(subjects("peer=127.0.0.1")[0], 5)
        self.assertEqual(subjects("peer=192.0.2.1"), (0, []))
        page = self.streams(sc, "subject=alice&limit=2")
        self.assertEqual(len(page["streams"]), 2)
        self.assertEqual(page["total"], 3)
        self.assertIs(page["truncated"], True)

    def test_the_default_limit_bounds_the_answer(self):
        sc = self.start_sidecar({"workers": 3})
        clients = [self.stream(sc, ["public.many"]) for _ in range(105)]
        answer = self.streams(sc)
        self.assertEqual(answer["total"], 105)
        self.assertEqual(len(answer["streams"]), 100)
        self.assertIs(answer["truncated"], True)
        self.assertEqual(len(self.streams(sc, "limit=105")["streams"]), 105)
        ages = [s["age_s"] for s in answer["streams"]]
        self.assertEqual(ages, sorted(ages, reverse=True))
        for c in clients:
            c.close()


class CredentialsTest(IntrospectionCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sse-it-introspect-", dir="/tmp")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        secret_file = os.path.join(self.tmp, "hmac.key")
        with open(secret_file, "w", encoding="utf-8") as f:
            f.write(HMAC_SECRET)
        self.sc = self.start_sidecar({"publish": {
            "tokens": [TOKEN, {"token": LIMITED, "name": "limited", "topics": ["public.*"]}],
            "hmac_secret_file": secret_file}})

    def test_refusals(self):
        for path in ("/topics", "/streams", "/admin/events"):
            with self.subTest(path=path):
                answer, headers = self.get(self.sc, path, token=None, expect=401)
                self.assertEqual(answer["ok"], False)
                self.assertIn("credentials required", answer["error"])
                self.assertEqual(headers.get("www-authenticate"), "Bearer")
                answer, _ = self.get(self.sc, path, token="wrong-token-0123456789", expect=401)
                self.assertEqual(answer["error"], "invalid publisher token")
                answer, _ = self.get(self.sc, path, token=LIMITED, expect=403)
                self.assertIn("needs a credential without topic limits", answer["error"])
                answer, _ = self.get(self.sc, path, token=None,
                                     headers=signed_get(path, "not-the-secret"), expect=401)
                self.assertEqual(answer["error"], "invalid request signature")

    def test_a_signed_request_is_a_credential(self):
        answer, _ = self.get(self.sc, "/topics?limit=5", token=None,
                             headers=signed_get("/topics?limit=5"))
        self.assertEqual(answer["topics"], [])
        answer, _ = self.get(self.sc, "/streams", token=None, headers=signed_get("/streams"))
        self.assertEqual(answer["total"], 0)

    def test_nothing_without_a_configured_credential(self):
        sc = self.start_sidecar({"publish": {"tokens": []}})
        for path in ("/topics", "/streams", "/admin/events"):
            answer, _ = self.get(sc, path, token=None, expect=403)
            self.assertIn("configure publish.tokens", answer["error"])
        # The page itself holds no data and is served anyway.
        status, _, body = sc.admin_request("GET", "/admin")
        self.assertEqual(status, 200)
        self.assertIn(b"sse-sidecar admin", body)


class ParametersTest(IntrospectionCase):
    def test_bad_parameters_get_400_with_a_reason(self):
        sc = self.start_sidecar()
        cases = [
            ("/topics?limit=0", "limit= must be a whole number from 1 to 10000"),
            ("/topics?limit=10001", "limit= must be a whole number from 1 to 10000"),
            ("/topics?limit=ten", "limit= must be a whole number from 1 to 10000"),
            ("/topics?prefix=" + quote("a b"),
             "prefix= may hold only what topics hold: letters, digits and . _ - : @ ="),
            ("/topics?limit=1&limit=2", "limit= is given twice"),
            ("/topics?topic=a", "unknown parameter 'topic': GET /topics takes prefix=, limit="),
            ("/streams?limit=-1", "limit= must be a whole number from 1 to 10000"),
            ("/streams?subject=", "subject= is empty: give a value, or leave it out"),
            ("/streams?topic=chat..room",
             "topic= is not a topic or a pattern: 'chat..room': topic has an empty segment"),
            ("/streams?prefix=chat",
             "unknown parameter 'prefix': GET /streams takes topic=, subject=, peer=, limit="),
        ]
        for target, error in cases:
            with self.subTest(target=target):
                answer, _ = self.get(sc, target, expect=400)
                self.assertEqual(answer, {"ok": False, "error": error})

    def test_methods(self):
        sc = self.start_sidecar()
        for path in ("/topics", "/streams", "/admin", "/admin/events"):
            status, headers, _ = sc.admin_request("POST", path, body="", headers=bearer(TOKEN))
            self.assertEqual(status, 405, path)
            self.assertEqual(headers.get("allow"), "GET")
        status, _, _ = sc.admin_request("GET", "/admin/other", headers=bearer(TOKEN))
        self.assertEqual(status, 404)


class AdminPageTest(IntrospectionCase):
    def test_the_page_is_one_self_contained_file(self):
        sc = self.start_sidecar()
        status, headers, body = sc.admin_request("GET", "/admin")
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("content-type"), "text/html; charset=utf-8")
        page = body.decode("utf-8")
        with open(os.path.join(os.path.dirname(__file__), "..", "..", "web", "admin.html"),
                  encoding="utf-8") as f:
            self.assertEqual(page, f.read(), "the page served is web/admin.html as built")
        # Nothing from elsewhere: no external scripts, styles, images or fonts.
        for needle in ("src=\"http", "href=\"http", "@import", "url(http", "//cdn"):
            self.assertNotIn(needle, page)
        csp = headers.get("content-security-policy", "")
        self.assertIn("default-src 'none'", csp)
        self.assertIn("connect-src 'self'", csp)
        self.assertIn("frame-ancestors 'none'", csp)
        self.assertEqual(headers.get("x-content-type-options"), "nosniff")

    def open_feed(self, sc, token=TOKEN):
        client = self.track(SSEClient(sc.admin_port))
        client.request("GET", "/admin/events", headers=bearer(token))
        client.read_head()
        return client

    def stats(self, client, n=1):
        events = client.read_events(n, timeout=5)
        for e in events:
            self.assertEqual(e.event, "stats")
        return [json.loads(e.data) for e in events]

    def test_live_figures_every_second(self):
        sc = self.start_sidecar()
        feed = self.open_feed(sc)
        self.assertEqual(feed.status, 200)
        self.assertEqual(feed.headers.get("content-type"), "text/event-stream")
        self.assertTrue(feed.chunked)
        (first,) = self.stats(feed)  # at once, not a second later
        self.assertEqual(first["published_total"], 0)
        self.assertEqual(first["connections"], 0)
        self.assertEqual(feed.retry, 2000)
        stream = self.stream(sc, ["public.live"])
        pub = self.publisher(sc)
        for i in range(5):
            pub.publish_ok("public.live", str(i))
        stream.read_events(5)

        def seen(pred):
            while True:
                (s,) = self.stats(feed)
                if pred(s):
                    return s

        s = seen(lambda s: s["published_total"] == 5 and s["connections"] == 1)
        self.assertGreater(s["history_memory_bytes"], 0)
        self.assertEqual(s["history_events"], 5)
        self.assertIs(s["engine_ready"], True)
        # The burst shows as a rate in the second it happened in.
        later = self.stats(feed, 2)
        rates = [s["published_per_s"]] + [x["published_per_s"] for x in later]
        self.assertGreater(max(rates), 0)
        self.assertEqual(later[-1]["published_per_s"], 0)
        self.assertEqual(later[-1]["delivered_per_s"], 0)

    def test_readers_are_bounded(self):
        sc = self.start_sidecar()
        feeds = [self.open_feed(sc) for _ in range(16)]
        for f in feeds:
            self.assertEqual(f.status, 200)
        extra = self.open_feed(sc)
        self.assertEqual(extra.status, 503)
        self.assertIn(b"too many admin streams open (16)", extra.read_body())
        feeds[0].close()
        wait_until(lambda: self.open_feed(sc).status == 200, message="a place once one left")

    def test_drain_ends_the_admin_stream_cleanly(self):
        sc = self.start_sidecar()
        feed = self.open_feed(sc)
        self.stats(feed)
        sc.signal(signal.SIGTERM)
        feed.read_to_eof(timeout=5)
        self.assertTrue(feed.ended_cleanly, "the last chunk before the end")
        self.assertEqual(sc.wait(10), 0)


def redis_support():
    if not redis_installed():
        return False, "redis-server is not installed"
    return sidecar_redis_support(SIDECAR_BIN)


class RedisTopicsTest(RedisTestCase, IntrospectionCase):
    """With the Redis engine: history figures from Redis (every node's), subscribers this
    node's own."""

    def setUp(self):
        supported, reason = redis_support()
        if not supported:
            self.skipTest(reason)
        super().setUp()

    def test_history_from_redis_subscribers_from_the_node(self):
        redis = self.start_redis()
        (a, b), prefix = self.start_redis_sidecars(redis, 2)
        on_b = self.stream(b, ["public.r2"])
        before = int(time.time() * 1000)
        pub = self.publisher(a)
        for i in range(3):
            pub.publish_ok("public.r1", "event %d" % i)

        on_b_answer = self.topics(b)
        self.assertEqual(on_b_answer["engine"], "redis")
        self.assertEqual([t["topic"] for t in on_b_answer["topics"]], ["public.r1", "public.r2"])
        self.assertEqual(on_b_answer["total"], 2)
        r1, r2 = on_b_answer["topics"]
        self.assertEqual(r1["history_events"], 3)  # in Redis, published through node a
        self.assertGreater(r1["history_bytes"], 0)
        self.assertGreaterEqual(r1["last_publish_ms"], before - 1000)  # Redis's clock
        self.assertEqual(r1["local_subscribers"], 0)
        self.assertEqual(r2["local_subscribers"], 1)
        self.assertEqual(r2["history_events"], 0)
        # Node a has no stream on public.r2, and Redis no history of it.
        on_a = self.topics(a)
        self.assertEqual([t["topic"] for t in on_a["topics"]], ["public.r1"])
        self.assertEqual(on_a["total"], 1)
        self.assertGreater(on_a["topics"][0]["publish_rate"], 0)
        on_b.close()

    def test_prefix_and_limit_in_redis(self):
        redis = self.start_redis()
        (a,), _ = self.start_redis_sidecars(redis, 1)
        pub = self.publisher(a)
        for name in ("public.p.3", "public.p.1", "public.q", "public.p.2"):
            pub.publish_ok(name, "x")
        self.stream(a, ["public.p.0"])  # this node's only: counted and listed first
        page = self.topics(a, "prefix=public.p.&limit=2")
        self.assertEqual([t["topic"] for t in page["topics"]], ["public.p.0", "public.p.1"])
        self.assertEqual(page["total"], 4)
        self.assertIs(page["truncated"], True)
        rest = self.topics(a, "prefix=public.p.")
        self.assertEqual([t["topic"] for t in rest["topics"]],
                         ["public.p.0", "public.p.1", "public.p.2", "public.p.3"])

    def test_topics_from_before_the_index_are_listed_again(self):
        """The index of names is kept by the publish script; topics Redis tracked before it
        existed are added back by the lease's slices (here: the index removed)."""
        redis = self.start_redis()
        (a,), prefix = self.start_redis_sidecars(redis, 1)
        pub = self.publisher(a)
        for name in ("public.old.1", "public.old.2"):
            pub.publish_ok(name, "x")
        redis.command("DEL", prefix + "names")
        self.assertEqual(self.topics(a)["total"], 0)
        wait_until(lambda: self.topics(a)["total"] == 2, timeout=10,
                   message="the lease to index the topics again")
        self.assertEqual([t["history_events"] for t in self.topics(a)["topics"]], [1, 1])

    def test_unavailable_redis_is_503(self):
        redis = self.start_redis()
        (a,), _ = self.start_redis_sidecars(redis, 1)
        redis.stop()
        wait_until(lambda: a.admin_request("GET", "/readyz")[0] == 503, timeout=10,
                   message="the node to notice Redis is gone")
        answer, headers = self.get(a, "/topics", expect=503)
        self.assertEqual(answer, {"ok": False, "error": "engine unavailable"})
        self.assertEqual(headers.get("retry-after"), "1")
        # /streams is the node's own business and still answers.
        self.assertEqual(self.streams(a)["total"], 0)


if __name__ == "__main__":
    unittest.main()
