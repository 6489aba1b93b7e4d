"""The Redis engine (`engine.type: redis`): several sidecars on one Redis behave as one service.

1. An event published on any node reaches every matching stream on every node exactly once, in
   one global order; ids are <epoch>-<seq> with the epoch from Redis and one seq counter; the
   publish reply comes after Redis committed the event.
2. Last-Event-ID resumes on any node: exactly the missed events, then live.
3. History bounds (max_events, max_bytes, max_age per topic, max_total_bytes and max_topics over
   every topic) hold in Redis; beyond them: sidecar.missed.
4. A node killed with SIGKILL loses nothing acknowledged; its clients resume on another node.
5. Redis losing its data changes the epoch: old ids get sidecar.missed and are never reused.
6. Redis unreachable: publishes refused promptly ("engine unavailable", HTTP 503), streams stay
   open, /readyz 503, sse_engine_up 0; when it is back, fan-out resumes by itself.

Every Redis test skips when redis-server is not installed, or when the binary has no Redis
engine at all (its --check-config knows no `engine` section); SIDECAR_REQUIRE_REDIS_ENGINE=1
makes both of those failures instead. The scenario checks shared by these tests also run on the
in-memory engine, where their outcome is known without Redis: they pass when every "node" is
one sidecar, and they fail on two sidecars that share nothing, so a check that cannot fail
would show here.
"""

import json
import os
import shutil
import tempfile
import threading
import time
import unittest

from redis_harness import (REDIS_SERVER, RedisTestCase, redis_installed,
                           sidecar_redis_support)
from sidecar_harness import (SIDECAR_BIN, Deadline, SidecarTestCase, SocketPublisher, parse_id,
                             wait_until)

REQUIRE_ENGINE = os.environ.get("SIDECAR_REQUIRE_REDIS_ENGINE") == "1"
UNAVAILABLE = "engine unavailable"
# How long a refused publish may take: command_timeout (300ms in the outage tests) plus the
# scheduling slack of a busy two-core machine.
PROMPT = 2.0


# ---------------------------------------------------------------------------------------------
# Clients that outlive their connections, publishers that count, and the delivery check


class Follower:
    """A browser-like client: one logical stream whose connection can be replaced; a new one is
    opened with Last-Event-ID = the last id received. `events` spans every connection."""

    def __init__(self, test, name, node, topics):
        self.test = test
        self.name = name
        self.topics = list(topics)
        self.events = []
        self.seen = set()  # data of every event received
        self.connections = 0
        self.client = None
        self.node = None
        self.open(node)

    @property
    def last_id(self):
        return self.events[-1].id if self.events else None

    @property
    def lost(self):
        """The server ended the current connection."""
        return self.client.eof

    def open(self, node):
        headers = {"Last-Event-ID": self.last_id} if self.events else None
        self.client = self.test.stream(node, self.topics, headers=headers)
        self.node = node
        self.connections += 1

    def reopen(self, node):
        """Moves to `node`: ends the current connection (whatever is in flight on it is lost
        to it) and resumes there."""
        self.pump(0)
        self.client.close()
        self.open(node)

    def pump(self, seconds=0.005):
        """Takes what has arrived (reading for up to `seconds`)."""
        if seconds:
            self.client.drain_available(seconds)
        new = self.client.pending_events()
        self.client._consumed = len(self.client.events)
        self.events.extend(new)
        self.seen.update(e.data for e in new)
        return new

    def data(self):
        return [e.data for e in self.events]

    def has_all(self, data):
        """Whether every one of `data` (a set or dict of data values) has arrived."""
        return len(self.seen) >= len(data) and self.seen.issuperset(data)


def pump_until(followers, predicate, timeout, what, publishers=()):
    """Reads every follower until `predicate()` holds; fails after `timeout` seconds, or at once
    when a publisher thread hit an unexpected error."""
    deadline = Deadline(timeout)
    while True:
        for f in followers:
            f.pump()
        for p in publishers:
            if p.failure:
                raise AssertionError("publisher %s failed: %s" % (p.label, p.failure))
        if predicate():
            return
        if deadline.expired():
            raise AssertionError("timed out after %.1fs waiting for %s (%s)" % (
                timeout, what, ", ".join("%s: %d events%s" % (f.name, len(f.events),
                                                              " (closed)" if f.lost else "")
                                         for f in followers)))


def pump_for(followers, seconds):
    deadline = Deadline(seconds)
    while not deadline.expired():
        for f in followers:
            f.pump()


class NumberedPublisher(threading.Thread):
    """Publishes numbered events through one node's socket: line k has ref k and data
    "<label><k>", `batch` lines per write, the next batch as soon as the replies are in (plus
    `interval` seconds), until stop(), `limit` lines, or the connection ends. Records what
    happened to every line."""

    def __init__(self, node, topic, label, batch=10, limit=None, interval=0.0,
                 reply_timeout=5.0):
        super().__init__(daemon=True, name="publisher-" + label)
        self.socket_path = node.socket_path
        self.topic = topic
        self.label = label
        self.batch = batch
        self.limit = limit
        self.interval = interval
        self.reply_timeout = reply_timeout
        self.sent_at = {}      # k -> monotonic time its batch was written
        self.replied_at = {}   # k -> monotonic time its reply was read
        self.acked = {}        # k -> event id
        self.refused = {}      # k -> error text
        self.replies = {}      # k -> the reply as parsed
        self.unanswered = []   # written, no reply before the connection ended
        self.ended = None      # why the connection ended early (None: it did not)
        self.failure = None    # anything unexpected (a bad reply, a missing reply)
        self._halt = threading.Event()

    def data(self, k):
        return "%s%d" % (self.label, k)

    def acked_data(self):
        return {self.data(k): event_id for k, event_id in self.acked.items()}

    def unacked_data(self):
        return {self.data(k) for k in self.sent_at if k not in self.acked}

    def stop(self):
        self._halt.set()

    def finish(self, timeout=10):
        self.stop()
        if self.is_alive():
            self.join(timeout)

    def run(self):
        try:
            pub = SocketPublisher(self.socket_path, self.reply_timeout)
        except OSError as e:
            self.failure = "cannot connect: %s" % e
            return
        try:
            self._loop(pub)
        except Exception as e:  # reported by the test
            self.failure = "%s: %s" % (type(e).__name__, e)
        finally:
            pub.close()

    def _loop(self, pub):
        k = 0
        while not self._halt.is_set() and (self.limit is None or k < self.limit):
            lines = list(range(k, k + self.batch))
            if self.limit is not None:
                lines = [i for i in lines if i < self.limit]
            now = time.monotonic()
            try:
                pub.send(*[{"topic": self.topic, "data": self.data(i), "ref": i} for i in lines])
            except OSError as e:
                self.ended = "write failed: %s" % e
                self.unanswered.extend(lines)
                for i in lines:
                    self.sent_at[i] = now
                return
            for i in lines:
                self.sent_at[i] = now
            for n, i in enumerate(lines):
                try:
                    reply = pub.read_reply()
                except (AssertionError, OSError) as e:
                    if "timed out" in str(e):
                        self.failure = "no reply to line %d within %.1fs" % (i,
                                                                             self.reply_timeout)
                    else:
                        self.ended = str(e)
                    self.unanswered.extend(lines[n:])
                    return
                self.replied_at[i] = time.monotonic()
                self.replies[i] = reply
                if reply.get("ref") != i:
                    self.failure = "reply %r does not answer line %d" % (reply, i)
                    return
                if reply.get("ok") is True:
                    self.acked[i] = reply["id"]
                else:
                    self.refused[i] = reply.get("error")
            k = lines[-1] + 1
            if self.interval:
                time.sleep(self.interval)


def _row(event):
    if isinstance(event, tuple):
        return event
    return (event.event, event.id, event.data)


def check_deliveries(sequences, acked, may_appear=()):
    """The exactly-once check. `sequences`: {client name: [events]} for clients that were all
    subscribed before the first publish; `acked`: {data: id} of every acknowledged event;
    `may_appear`: data of events that were sent but not acknowledged (a refusal or no reply),
    which may each be delivered once, or not at all.

    Every client must have received the very same sequence (one global order), of ordinary
    events only, with strictly increasing ids of one epoch, no data twice, every acknowledged
    event with the id its reply gave, and nothing else."""
    may_appear = set(may_appear)
    rows = {name: [_row(e) for e in seq] for name, seq in sequences.items()}
    for name, seq in rows.items():
        where = "client %s" % name
        odd = [r for r in seq if r[0] != "message"]
        if odd:
            raise AssertionError("%s: got %d events that are not ordinary ones, first %r"
                                 % (where, len(odd), odd[0]))
        parsed = [parse_id(r[1]) for r in seq]
        for n in range(1, len(parsed)):
            if parsed[n - 1][0] != parsed[n][0] or parsed[n - 1][1] >= parsed[n][1]:
                raise AssertionError("%s: ids do not strictly increase within one epoch at #%d:"
                                     " %r then %r" % (where, n, seq[n - 1], seq[n]))
        data = [r[2] for r in seq]
        if len(set(data)) != len(data):
            seen, twice = set(), []
            for d in data:
                if d in seen:
                    twice.append(d)
                seen.add(d)
            raise AssertionError("%s: %d events delivered twice, first %r"
                                 % (where, len(twice), twice[0]))
        have = dict((r[2], r[1]) for r in seq)
        lost = sorted(d for d in acked if d not in have)
        if lost:
            raise AssertionError("%s: %d acknowledged events never arrived, first %r (of %d "
                                 "acknowledged, %d received)"
                                 % (where, len(lost), lost[:5], len(acked), len(seq)))
        wrong = [(d, acked[d], have[d]) for d in acked if have[d] != acked[d]]
        if wrong:
            raise AssertionError("%s: %d events arrived with another id than their reply gave,"
                                 " first (data, reply id, stream id) %r"
                                 % (where, len(wrong), wrong[0]))
        extra = [d for d in data if d not in acked and d not in may_appear]
        if extra:
            raise AssertionError("%s: %d events nobody published, first %r"
                                 % (where, len(extra), extra[:5]))
    names = list(rows)
    for name in names[1:]:
        a, b = rows[names[0]], rows[name]
        if a != b:
            n = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            raise AssertionError("clients %s and %s disagree from #%d: %r vs %r (lengths %d, %d)"
                                 % (names[0], name, n, a[n:n + 2], b[n:n + 2], len(a), len(b)))


def assert_missed(test, event, resumed_from, newest_id):
    test.assertEqual(event.event, "sidecar.missed", "expected sidecar.missed, got %r" % (event,))
    test.assertEqual(event.id_field, newest_id, "sidecar.missed carries the newest id")
    body = json.loads(event.data)
    test.assertEqual(body["last_event_id"], resumed_from)
    test.assertIsInstance(body.get("reason"), str)


def assert_open_across_loss(test, events, new_replies, new_data, name):
    """What a stream that stayed open while Redis lost its data got after its old events: at
    most one sidecar.missed (in the new epoch, or none), then exactly the new events."""
    if events and events[0].event == "sidecar.missed":
        body = json.loads(events[0].data)
        test.assertIsInstance(body.get("last_event_id"), str)
        test.assertIsInstance(body.get("reason"), str)
        events = events[1:]
    test.assertEqual(rows_of(events), expect_rows(new_replies, new_data),
                     "stream %s, open across the loss" % name)


def rows_of(events):
    return [(e.event, e.id, e.data) for e in events]


def expect_rows(replies, data):
    return [("message", r["id"], d) for r, d in zip(replies, data)]


# ---------------------------------------------------------------------------------------------
# Scenario checks: `nodes` are sidecars that should behave as one service (for the control
# runs, one sidecar given several times, or independent ones).


def check_one_topic(test, nodes, timeout=5.0):
    """Two streams per node on one topic, one stream on another topic; events published on
    each node in turn reach every stream of the topic once, in publish order, and nothing
    else."""
    topic = "public.x.one"
    streams = []
    for i, node in enumerate(nodes):
        streams.append((i, test.stream(node, [topic])))
        streams.append((i, test.stream(node, [topic], http_version="1.0")))
    others = [test.stream(node, ["public.x.other"]) for node in nodes]
    pubs = [test.publisher(node) for node in nodes]
    replies, data = [], []
    for k in range(3 * len(nodes)):
        i = k % len(nodes)
        reply = pubs[i].publish_ok(topic, "e%d" % k, ref=k)
        local = sum(1 for j, _ in streams if nodes[j] is nodes[i])
        test.assertIn(reply["subscribers"], (local, len(streams)),
                      "subscribers counts this node's streams or every node's: %r" % (reply,))
        replies.append(reply)
        data.append("e%d" % k)
    for j, client in streams:
        got = client.read_events(len(replies), timeout)
        test.assertEqual(rows_of(got), expect_rows(replies, data), "stream on node %d" % j)
    for _, client in streams:
        client.assert_no_event(0.1)
    for client in others:
        client.assert_no_event(0.05)
    test.assertIdsIncrease([r["id"] for r in replies])  # one epoch, one counter, every node


def _publish(pub, topics, data):
    if len(topics) == 1:
        return pub.publish_ok(topics[0], data)
    return pub.publish_ok(None, data, topics=list(topics))


def _matches(subscription, topic):
    if subscription.endswith(".*"):
        return topic.startswith(subscription[:-1])
    return subscription == topic


def _check_routed(test, nodes, subscriptions, publishes, timeout):
    """subscriptions: [(node index, [topics or patterns], http_version)]; publishes:
    [(node index, [topics])]. Each stream gets exactly the events on a topic it matches, once
    each, in publish order."""
    n = len(nodes)
    streams = [test.stream(nodes[i % n], subs, http_version=v) for i, subs, v in subscriptions]
    pubs = [test.publisher(node) for node in nodes]
    sent = []
    for k, (i, topics) in enumerate(publishes):
        reply = _publish(pubs[i % n], topics, "d%d" % k)
        sent.append((topics, ("message", reply["id"], "d%d" % k)))
    for (i, subs, _), client in zip(subscriptions, streams):
        expected = [row for topics, row in sent
                    if any(_matches(s, t) for s in subs for t in topics)]
        got = client.read_events(len(expected), timeout)
        test.assertEqual(rows_of(got), expected, "stream on node %d for %r" % (i % n, subs))
    for client in streams:
        client.assert_no_event(0.1)
    test.assertIdsIncrease([row[1] for _, row in sent])


def check_several_topics(test, nodes, timeout=5.0):
    a, b, c = "public.m.a", "public.m.b", "public.m.c"
    _check_routed(test, nodes,
                  [(0, [a, b], "1.1"), (1, [b], "1.1"), (2, [a], "1.1"), (2, [b, a], "1.0"),
                   (1, [a, b, a], "1.1")],
                  [(1, [a]), (2, [b]), (0, [a, b]), (1, [b, a]), (2, [c]), (0, [a]), (1, [b]),
                   (2, [c, b]), (0, [c])],
                  timeout)


def check_patterns(test, nodes, timeout=5.0):
    _check_routed(test, nodes,
                  [(1, ["public.p.*"], "1.1"), (2, ["public.p.*", "public.p.a"], "1.1"),
                   (0, ["public.p.a"], "1.1"), (0, ["public.p.b.*"], "1.0"),
                   (2, ["public.*"], "1.1")],
                  [(0, ["public.p.a"]), (2, ["public.p.b.c"]), (1, ["public.q.a"]),
                   (0, ["public.p.b.c.d"]), (1, ["public.p.a", "public.p.b"]),
                   (2, ["public.pp.a"]), (0, ["public.p.b"]), (1, ["public.p.a"])],
                  timeout)


def check_concurrent_publishers(test, nodes, per_publisher=150, timeout=10.0):
    """One publisher per node at once, each on its own topic; streams on every node over all of
    them see one and the same order, containing everything acknowledged."""
    n = len(nodes)
    topics = ["public.c.%d" % i for i in range(n)]
    followers = [Follower(test, "node%d-%d" % (i, j), node, topics if j == 0 else ["public.c.*"])
                 for i, node in enumerate(nodes) for j in range(2)]
    pubs = [NumberedPublisher(node, topics[i], "p%d." % i, batch=5, limit=per_publisher)
            for i, node in enumerate(nodes)]
    for p in pubs:
        test.addCleanup(p.finish)
        p.start()
    for p in pubs:
        p.join(timeout)
        test.assertFalse(p.is_alive(), "publisher %s did not finish" % p.label)
        test.assertIsNone(p.failure)
        test.assertIsNone(p.ended)
        test.assertEqual((len(p.acked), p.refused), (per_publisher, {}))
        test.assertIdsIncrease([p.acked[k] for k in range(per_publisher)])
    acked = {}
    for p in pubs:
        acked.update(p.acked_data())
    pump_until(followers, lambda: all(len(f.events) >= len(acked) for f in followers), timeout,
               "every acknowledged event everywhere")
    pump_for(followers, 0.2)
    check_deliveries({f.name: f.events for f in followers}, acked)


def check_resume_on_other_nodes(test, nodes, timeout=5.0):
    """Reads on node A over two topics, misses events published on every node while away, and
    resumes on node B (Last-Event-ID header) and node C (last_event_id query): each gets
    exactly the missed events of its topics in order, then live ones, nothing twice."""
    t1, t2, other = "public.r.one", "public.r.two", "public.rx.zz"
    n = len(nodes)
    a, b, c = nodes[0], nodes[1 % n], nodes[2 % n]
    pa, pb, pc = test.publisher(a), test.publisher(b), test.publisher(c)
    first = test.stream(a, [t1, t2])
    seen = [pa.publish_ok(t1, "e1"), pb.publish_ok(t2, "e2"), pc.publish_ok(other, "x"),
            pc.publish_ok(t1, "e3")]
    got = first.read_events(3, timeout)
    test.assertEqual(rows_of(got), expect_rows([seen[0], seen[1], seen[3]], ["e1", "e2", "e3"]))
    last = got[-1].id
    first.close()
    missed = [pb.publish_ok(t2, "m1"), pc.publish_ok(t1, "m2"), pa.publish_ok(other, "y"),
              pa.publish_ok(None, "m3", topics=[t1, t2]), pb.publish_ok(t1, "m4"),
              pc.publish_ok(None, "m5", topics=[other, t2])]
    expected = expect_rows([missed[i] for i in (0, 1, 3, 4, 5)], ["m1", "m2", "m3", "m4", "m5"])
    resumed = [test.stream(b, [t2, t1], headers={"Last-Event-ID": last}),
               test.stream(c, ["public.r.*"], query="last_event_id=" + last)]
    for client in resumed:
        test.assertEqual(rows_of(client.read_events(len(expected), timeout)), expected)
    for client in resumed:
        client.assert_no_event(0.2)
    live = [pc.publish_ok(t2, "live1"), pa.publish_ok(t1, "live2")]
    for client in resumed:
        test.assertEqual(rows_of(client.read_events(2, timeout)),
                         expect_rows(live, ["live1", "live2"]))
        client.assert_no_event(0.1)


def check_hops_while_publishing(test, nodes, total=1200, timeout=15.0):
    """A publisher on the last node sends numbered events (a little paced, so that the test
    spans many moves) while one client moves from node to node each time it got 40 events on
    a connection, with its last id, and another stays put: both get every event exactly once,
    in order, with no gap or repeat at any seam."""
    n = len(nodes)
    topic = "public.hop"
    mover = Follower(test, "mover", nodes[0], [topic])
    stayer = Follower(test, "stayer", nodes[1 % n], [topic])
    pub = NumberedPublisher(nodes[-1], topic, "h", batch=5, limit=total, interval=0.004)
    test.addCleanup(pub.finish)
    pub.start()
    hops = 0
    mark = 0
    deadline = Deadline(timeout)
    while len(mover.events) < total or len(stayer.events) < total:
        pump_until([mover, stayer], lambda: True, 1, "a read", [pub])
        if len(mover.events) >= mark + 40 and len(pub.acked) < total:
            hops += 1
            mover.reopen(nodes[hops % n])
            mark = len(mover.events)
        if deadline.expired():
            raise AssertionError("timed out: mover %d, stayer %d of %d events (publisher: %d "
                                 "acknowledged)" % (len(mover.events), len(stayer.events),
                                                    total, len(pub.acked)))
    pub.join(timeout)
    test.assertIsNone(pub.failure)
    test.assertEqual((len(pub.acked), pub.refused), (total, {}))
    test.assertGreaterEqual(hops, 5, "the publisher finished before the client moved enough")
    pump_for([mover, stayer], 0.2)
    check_deliveries({"mover": mover.events, "stayer": stayer.events}, pub.acked_data())
    test.assertEqual(mover.data(), [pub.data(k) for k in range(total)])


HISTORY_BOUNDS = {"history": {"max_events": 5, "max_bytes": "4KiB"}}


def check_history_bounds(test, nodes, timeout=5.0):
    """With HISTORY_BOUNDS: per topic, five small events are kept (max_events) and at most four
    of 1000 bytes (max_bytes); a resume within what is kept replays it exactly, from before it
    gets sidecar.missed carrying the newest id, then live events."""
    n = len(nodes)
    pubs = [test.publisher(node) for node in nodes]
    small = [pubs[k % n].publish_ok("public.h.small", "s%d" % k) for k in range(10)]
    big = [pubs[k % n].publish_ok("public.h.big", "%d" % k + "x" * 999) for k in range(10)]
    newest = big[-1]["id"]
    # small[4] is the last evicted one: from it, the kept five are exactly what is missing.
    within = test.stream(nodes[1 % n], ["public.h.small"], headers={"Last-Event-ID":
                                                                    small[4]["id"]})
    test.assertEqual(rows_of(within.read_events(5, timeout)),
                     expect_rows(small[5:], ["s%d" % k for k in range(5, 10)]))
    within.assert_no_event(0.1)
    # Two big ones fit whatever the per-event overhead is counted as.
    recent = test.stream(nodes[2 % n], ["public.h.big"], headers={"Last-Event-ID":
                                                                 big[-3]["id"]})
    test.assertEqual([e.id for e in recent.read_events(2, timeout)], [r["id"] for r in big[-2:]])
    recent.assert_no_event(0.1)
    for name, topics, resumed_from, node in (
            ("count", ["public.h.small"], small[3]["id"], nodes[1 % n]),
            ("bytes", ["public.h.big"], big[0]["id"], nodes[2 % n]),
            ("one of two topics", ["public.h.small", "public.h.other"], small[0]["id"],
             nodes[0])):
        with test.subTest(bound=name):
            client = test.stream(node, topics, headers={"Last-Event-ID": resumed_from})
            assert_missed(test, client.next_event(timeout), resumed_from, newest)
            client.assert_no_event(0.2)  # what is kept is not replayed after the gap
            client.close()
    live_on = test.stream(nodes[0], ["public.h.small"], headers={"Last-Event-ID": small[0]["id"]})
    assert_missed(test, live_on.next_event(timeout), small[0]["id"], newest)
    live = pubs[-1].publish_ok("public.h.small", "live")
    test.assertEqual(rows_of([live_on.next_event(timeout)]), [("message", live["id"], "live")])


MAX_AGE = {"history": {"max_age": "2s"}}


def check_history_max_age(test, nodes, timeout=8.0):
    """With MAX_AGE: a resume right away replays everything; once the events are older than
    max_age it gets sidecar.missed, and never a partial replay on the way."""
    n = len(nodes)
    pubs = [test.publisher(node) for node in nodes]
    replies = [pubs[k % n].publish_ok("public.age", "a%d" % k) for k in range(3)]
    first = replies[0]["id"]
    fresh = test.stream(nodes[-1], ["public.age"], headers={"Last-Event-ID": first})
    test.assertEqual(rows_of(fresh.read_events(2)), expect_rows(replies[1:], ["a1", "a2"]))
    fresh.close()
    deadline = Deadline(timeout)
    attempt = 0
    while True:
        attempt += 1
        client = test.stream(nodes[attempt % n], ["public.age"],
                             headers={"Last-Event-ID": first})
        event = client.next_event(2)
        if event.event == "sidecar.missed":
            assert_missed(test, event, first, replies[-1]["id"])
            client.assert_no_event(0.2)
            return
        rest = [event] + client.read_events(1, 2)
        test.assertEqual(rows_of(rest), expect_rows(replies[1:], ["a1", "a2"]),
                         "a resume gets all it missed or sidecar.missed, never part of it")
        client.close()
        if deadline.expired():
            raise AssertionError("events older than max_age (2s) were still replayed after "
                                 "%.0fs" % timeout)
        time.sleep(0.25)


TOTAL_BOUNDS = {"history": {"max_total_bytes": "16MiB", "max_topics": 100000}}
CHURN = 20000  # topics of one 2 KiB event each: several times what 16 MiB holds, either engine
CHURN_DATA = "c" * 2048


def churn_topics(test, nodes, count=CHURN, prefix="public.c.u", batch=500):
    """Publishes one event to each of `count` fresh topics, alternating nodes a batch at a
    time; returns the ids, the i-th on topic `prefix` + i."""
    pubs = [test.publisher(node) for node in nodes]
    for pub in pubs:
        pub.timeout = 60
    ids = []
    for start in range(0, count, batch):
        pub = pubs[(start // batch) % len(pubs)]
        pub.send(*[{"topic": "%s%d" % (prefix, i), "data": CHURN_DATA}
                   for i in range(start, start + batch)])
        ids.extend(r["id"] for r in pub.read_replies(batch, timeout=60))
    return ids


def check_history_total_bounds(test, nodes, timeout=5.0):
    """With TOTAL_BOUNDS: topics churn past history.max_total_bytes. A resume on an evicted
    topic gets sidecar.missed on any node, the newest topic replays its event, an exact topic
    nobody published to resumes from before the evictions without a miss (one horizon for every
    forgotten topic would make it miss), and a pattern resume from there is told it missed."""
    n = len(nodes)
    ids = churn_topics(test, nodes)
    newest = ids[-1]
    gone = test.stream(nodes[1 % n], ["public.c.u10"], headers={"Last-Event-ID": ids[0]})
    assert_missed(test, gone.next_event(timeout), ids[0], newest)
    gone.close()
    kept = test.stream(nodes[0], ["public.c.u%d" % (CHURN - 1)],
                       headers={"Last-Event-ID": ids[-2]})
    test.assertEqual([e.id for e in kept.read_events(1, timeout)], [newest])
    kept.close()
    # Older than what either engine holds of this churn (about 6 000 topics in memory, 3 400
    # in Redis), with a few thousand topics forgotten after it.
    since = ids[CHURN - 8000]
    quiet = test.stream(nodes[-1], ["public.c.quiet"], headers={"Last-Event-ID": since})
    quiet.assert_no_event(0.3)
    live = test.publisher(nodes[0]).publish_ok("public.c.quiet", "live")
    test.assertEqual(rows_of([quiet.next_event(timeout)]), [("message", live["id"], "live")])
    quiet.close()
    pattern = test.stream(nodes[1 % n], ["public.c.*"], headers={"Last-Event-ID": since})
    assert_missed(test, pattern.next_event(timeout), since, live["id"])


def check_history_max_topics(test, nodes, timeout=5.0):
    """With {"history": {"max_topics": 100}}: 151 topics and one published again; the least
    recently published ones are forgotten whole; a resume on one of them misses, a topic
    published again after being forgotten replays its new event."""
    n = len(nodes)
    pubs = [test.publisher(node) for node in nodes]
    first = pubs[0].publish_ok("public.m.first", "1")["id"]
    ids = [pubs[k % n].publish_ok("public.m.t%d" % k, str(k))["id"] for k in range(150)]
    again = pubs[-1].publish_ok("public.m.first", "again")["id"]
    gone = test.stream(nodes[1 % n], ["public.m.t0"], headers={"Last-Event-ID": first})
    assert_missed(test, gone.next_event(timeout), first, again)
    gone.close()
    back = test.stream(nodes[0], ["public.m.first"], headers={"Last-Event-ID": ids[-1]})
    test.assertEqual(rows_of(back.read_events(1, timeout)),
                     [("message", again, "again")])
    back.close()
    recent = test.stream(nodes[-1], ["public.m.t149"], headers={"Last-Event-ID": ids[148]})
    test.assertEqual([e.id for e in recent.read_events(1, timeout)], [ids[149]])


# ---------------------------------------------------------------------------------------------
# The checks themselves, on the in-memory engine (no Redis needed)


class ChecksOnOneMemoryNodeTest(SidecarTestCase):
    """Every "node" is the same in-memory sidecar: each check must pass."""

    def _nodes(self, overrides=None):
        sc = self.start_sidecar(overrides)
        return [sc, sc, sc]

    def test_one_topic(self):
        check_one_topic(self, self._nodes())

    def test_several_topics(self):
        check_several_topics(self, self._nodes())

    def test_patterns(self):
        check_patterns(self, self._nodes())

    def test_concurrent_publishers(self):
        check_concurrent_publishers(self, self._nodes())

    def test_resume(self):
        check_resume_on_other_nodes(self, self._nodes())

    def test_hops_while_publishing(self):
        check_hops_while_publishing(self, self._nodes())

    def test_history_bounds(self):
        check_history_bounds(self, self._nodes(HISTORY_BOUNDS))

    def test_history_max_age(self):
        check_history_max_age(self, self._nodes(MAX_AGE))

    def test_history_total_bounds(self):
        check_history_total_bounds(self, self._nodes(TOTAL_BOUNDS))

    def test_history_max_topics(self):
        check_history_max_topics(self, self._nodes({"history": {"max_topics": 100}}))


class ChecksCatchNodesThatShareNothingTest(SidecarTestCase):
    """Two in-memory sidecars share neither events nor ids: each cross-node check must fail."""

    def _nodes(self, overrides=None):
        return [self.start_sidecar(overrides), self.start_sidecar(overrides)]

    def _fails(self, check, *args, **kw):
        """The check fails on what was delivered (not on the ids' epochs alone)."""
        with self.assertRaises(AssertionError) as caught:
            check(self, *args, **kw)
        message = str(caught.exception)
        self.assertTrue(any(m in message for m in ("timed out", "Lists differ")), message)
        return message

    def test_one_topic(self):
        self._fails(check_one_topic, self._nodes(), timeout=0.5)

    def test_several_topics(self):
        self._fails(check_several_topics, self._nodes(), timeout=0.5)

    def test_patterns(self):
        self._fails(check_patterns, self._nodes(), timeout=0.5)

    def test_concurrent_publishers(self):
        self._fails(check_concurrent_publishers, self._nodes(), per_publisher=20, timeout=1)

    def test_resume(self):
        self._fails(check_resume_on_other_nodes, self._nodes(), timeout=0.5)

    def test_history_bounds(self):
        self._fails(check_history_bounds, self._nodes(HISTORY_BOUNDS), timeout=0.5)

    def test_history_max_topics(self):
        self._fails(check_history_max_topics, self._nodes({"history": {"max_topics": 100}}),
                    timeout=0.5)


class DeliveryCheckTest(unittest.TestCase):
    """check_deliveries on made-up sequences."""

    E = "1700000000000"

    def row(self, seq, data, event="message"):
        return (event, "%s-%d" % (self.E, seq), data)

    def setUp(self):
        self.good = [self.row(1, "a0"), self.row(2, "b0"), self.row(3, "a1"), self.row(5, "b1")]
        self.acked = {"a0": self.row(1, "")[1], "b0": self.row(2, "")[1],
                      "a1": self.row(3, "")[1]}

    def test_accepts(self):
        check_deliveries({"x": self.good, "y": list(self.good)}, self.acked, may_appear={"b1"})
        check_deliveries({"x": self.good[:3]}, self.acked, may_appear={"b1"})

    def fails(self, sequences, pattern, acked=None, may_appear=("b1",)):
        with self.assertRaises(AssertionError) as caught:
            check_deliveries(sequences, self.acked if acked is None else acked, may_appear)
        self.assertIn(pattern, str(caught.exception))

    def test_rejects(self):
        g = self.good
        self.fails({"x": g[:1] + g[2:]}, "never arrived")
        self.fails({"x": g + [self.row(6, "a1")]}, "twice")
        self.fails({"x": [g[1], g[0]] + g[2:]}, "strictly increase")
        self.fails({"x": g[:3] + [("message", "1700000000001-6", "b1")]}, "strictly increase")
        self.fails({"x": g}, "nobody published", may_appear=())
        self.fails({"x": g[:1] + [self.row(2, "b0", "sidecar.missed")] + g[2:]}, "not ordinary")
        self.fails({"x": [self.row(1, "a0"), self.row(2, "b0"), self.row(4, "a1")]}, "another id")
        self.fails({"x": g, "y": g[:3]}, "disagree")
        self.fails({"x": g, "y": [self.row(1, "a0"), self.row(2, "b0"), self.row(3, "a1"),
                                  self.row(4, "b1")]}, "disagree")


# ---------------------------------------------------------------------------------------------
# The Redis engine


class RedisEngineCase(RedisTestCase, SidecarTestCase):
    def setUp(self):
        if not redis_installed():
            reason = "redis-server is not installed (looked for %s)" % REDIS_SERVER
            if REQUIRE_ENGINE:
                self.fail(reason)
            self.skipTest(reason)
        supported, reason = sidecar_redis_support(SIDECAR_BIN)
        if not supported:
            if REQUIRE_ENGINE:
                self.fail(reason)
            self.skipTest(reason + "; SIDECAR_REQUIRE_REDIS_ENGINE=1 makes this a failure")
        super().setUp()

    def cluster(self, n, redis=None, overrides=None, **redis_settings):
        """`n` sidecars on `redis` (a new server when None) with one fresh key prefix."""
        redis = redis or self.start_redis()
        nodes, _ = self.start_redis_sidecars(redis, n, overrides, **redis_settings)
        return nodes

    @staticmethod
    def ready(node):
        try:
            return node.admin_request("GET", "/readyz", timeout=1)[0]
        except OSError as e:
            return "unreachable: %s" % e

    def wait_ready(self, node, status, timeout=8.0):
        wait_until(lambda: self.ready(node) == status, timeout,
                   message="/readyz %s on :%d" % (status, node.admin_port))

    def publish_when_back(self, pub, topic, data, timeout=5.0):
        """The first publish through a node after Redis came back: its /readyz may still say
        200 from before it noticed the old connection was gone, so "engine unavailable" is
        retried (promptly answered, with the same data) until the publish is acknowledged."""
        deadline = Deadline(timeout)
        while True:
            reply = pub.publish(topic, data)
            if reply.get("ok") is True:
                return reply
            self.assertEqual(reply, {"ok": False, "error": UNAVAILABLE})
            if deadline.expired():
                raise AssertionError("publishes still refused %.0fs after Redis came back"
                                     % timeout)
            time.sleep(0.05)

    def publish_refused(self, pub, topic="public.down"):
        """One publish that must be refused promptly as engine unavailable."""
        start = time.monotonic()
        reply = pub.publish(topic, "refused", ref="r")
        elapsed = time.monotonic() - start
        self.assertEqual(reply, {"ok": False, "error": UNAVAILABLE, "ref": "r"})
        self.assertLess(elapsed, PROMPT, "refusal took %.2fs" % elapsed)


class RedisDeliveryTest(RedisEngineCase):
    def test_one_topic_on_every_node(self):
        check_one_topic(self, self.cluster(3))

    def test_several_topics_on_every_node(self):
        check_several_topics(self, self.cluster(3))

    def test_patterns_on_every_node(self):
        check_patterns(self, self.cluster(3))

    def test_concurrent_publishers_make_one_order(self):
        check_concurrent_publishers(self, self.cluster(3))

    def test_reply_comes_after_the_commit(self):
        """Right after a node acknowledges an event, another node can replay it: the reply
        was not sent before Redis had it."""
        a, b = self.cluster(2)
        pub = self.publisher(a)
        before = pub.publish_ok("public.commit", "before")["id"]
        for k in range(20):
            reply = pub.publish_ok("public.commit", "c%d" % k)
            client = self.stream(b, ["public.commit"], headers={"Last-Event-ID": before})
            self.assertEqual(rows_of([client.next_event()]), [("message", reply["id"],
                                                               "c%d" % k)])
            client.close()
            before = reply["id"]

    def test_same_epoch_on_every_node_and_one_counter_across_topics(self):
        nodes = self.cluster(3)
        pubs = [self.publisher(node) for node in nodes]
        ids = [pubs[k % 3].publish_ok("public.t%d" % (k % 4), "x")["id"] for k in range(12)]
        status, _, body = nodes[1].http_publish({"topic": "public.t9", "data": "y"})
        self.assertEqual(status, 200, body)
        ids.append(body["id"])
        ids.append(pubs[2].publish_ok("public.t0", "z")["id"])
        self.assertIdsIncrease(ids)
        self.assertEqual(len({parse_id(i)[0] for i in ids}), 1)
        for node in nodes:
            self.assertEqual(node.metric("sse_engine_up"), 1)

    def test_key_prefix_separates_services(self):
        redis = self.start_redis()
        blue = self.cluster(2, redis)
        (green,) = self.cluster(1, redis)
        streams = [self.stream(node, ["public.same"]) for node in blue + [green]]
        blue_reply = self.publisher(blue[0]).publish_ok("public.same", "blue")
        green_reply = self.publisher(green).publish_ok("public.same", "green")
        for client in streams[:2]:
            self.assertEqual(rows_of([client.next_event()]),
                             [("message", blue_reply["id"], "blue")])
            client.assert_no_event(0.2)
        self.assertEqual(rows_of([streams[2].next_event()]),
                         [("message", green_reply["id"], "green")])
        streams[2].assert_no_event(0.2)
        prefixes = {node.config["engine"]["redis"]["key_prefix"] for node in blue + [green]}
        self.assertEqual(len(prefixes), 2)
        with redis.client() as c:
            keys = c.keys("*")
        self.assertTrue(keys, "nothing was stored in Redis")
        self.assertEqual([k for k in keys if not any(k.startswith(p) for p in prefixes)], [],
                         "keys outside the configured prefixes")


class RedisResumeTest(RedisEngineCase):
    def test_resume_on_another_node_across_two_topics(self):
        check_resume_on_other_nodes(self, self.cluster(3))

    def test_moving_between_nodes_while_publishing(self):
        check_hops_while_publishing(self, self.cluster(3))


class RedisHistoryTest(RedisEngineCase):
    def test_max_events_and_max_bytes(self):
        check_history_bounds(self, self.cluster(3, overrides=HISTORY_BOUNDS))

    def test_max_age(self):
        check_history_max_age(self, self.cluster(2, overrides=MAX_AGE))

    def test_max_total_bytes_bounds_redis_memory(self):
        """Topics churning past history.max_total_bytes on two nodes: P total stays within the
        bound, Redis's memory grows by about that much (not by what was published), the
        metrics say so, and resumes behave as on one node."""
        redis = self.start_redis()
        nodes, prefix = self.start_redis_sidecars(redis, 2, TOTAL_BOUNDS)
        bound = 16 * 1024 * 1024
        before = int(redis.info("memory")["used_memory"])
        check_history_total_bounds(self, nodes)
        with redis.client() as c:
            total = int(c.command("GET", prefix + "total"))
            topics = c.command("ZCARD", prefix + "topics")
        grown = int(redis.info("memory")["used_memory"]) - before
        self.assertLessEqual(total, bound)
        self.assertGreater(total, bound - 64 * 1024)  # the bound was reached
        self.assertLess(topics, CHURN // 4)
        # What Redis holds costs about what P total counts (measured: within 2%); the slack is
        # the 2 MiB table of forgotten horizons and the allocator's. Kept without bound, the
        # churn takes about 95 MiB.
        self.assertLess(grown, 1.25 * bound + 4 * 1024 * 1024,
                        "Redis grew by %.1f MiB for a bound of 16 MiB" % (grown / 2 ** 20))
        # Every node reports Redis's history at its lease tick, and what its own publishes
        # evicted: together, every churned topic but those kept.
        wait_until(lambda: all(node.metric("sse_history_topics") == topics for node in nodes),
                   5, message="sse_history_topics from the lease tick")
        metrics = [node.metrics() for node in nodes]
        for m in metrics:
            self.assertLessEqual(m["sse_history_memory_bytes"], bound)
        evicted = sum(m['sse_history_evicted_total{reason="max_total_bytes"}'] for m in metrics)
        forgotten = sum(m['sse_history_topics_forgotten_total{reason="max_total_bytes"}']
                        for m in metrics)
        self.assertEqual(forgotten, CHURN + 1 - topics)  # public.c.quiet too
        self.assertEqual(evicted, forgotten)  # each had one event

    def test_max_topics(self):
        redis = self.start_redis()
        nodes, prefix = self.start_redis_sidecars(redis, 2, {"history": {"max_topics": 100}})
        check_history_max_topics(self, nodes)
        self.assertEqual(redis.command("ZCARD", prefix + "topics"), 100)
        forgotten = sum(node.metric('sse_history_topics_forgotten_total{reason="max_topics"}')
                        for node in nodes)
        self.assertEqual(forgotten, 52)  # 151 topics for 100 places, then one again

    def test_no_history_kept(self):
        a, b = self.cluster(2, overrides={"history": {"max_events": 0}})
        pub = self.publisher(a)
        ids = [pub.publish_ok("public.z", str(k))["id"] for k in range(3)]
        client = self.stream(b, ["public.z"], headers={"Last-Event-ID": ids[0]})
        assert_missed(self, client.next_event(), ids[0], ids[-1])
        client.assert_no_event(0.2)


class RedisNodeCrashTest(RedisEngineCase):
    def test_kill_9_of_a_node_loses_nothing_acknowledged(self):
        """Publishers on nodes 1 and 2 send numbered events without pause; node 2 gets SIGKILL
        and is started again, a third publisher then uses it. The clients of node 2 resume on
        the survivors with their last id, one client moves to the restarted node: every client
        gets every acknowledged event exactly once, in one order."""
        n1, n2, n3 = self.cluster(3, overrides={
            "history": {"max_events": 100000, "max_bytes": "64MiB"},
            "limits": {"subscriber_buffer_bytes": "64MiB"}})
        both = ["public.k.one", "public.k.two"]
        followers = [Follower(self, "on-1", n1, both),
                     Follower(self, "on-2-pattern", n2, ["public.k.*"]),
                     Follower(self, "on-2", n2, both),
                     Follower(self, "on-3", n3, ["public.k.*"])]
        p1 = NumberedPublisher(n1, "public.k.one", "a", batch=5)
        p2 = NumberedPublisher(n2, "public.k.two", "b", batch=5)
        p3 = NumberedPublisher(n2, "public.k.two", "c", batch=5)
        pubs = [p1, p2, p3]
        for p in pubs:
            self.addCleanup(p.finish)
        p1.start()
        p2.start()
        pump_until(followers, lambda: all(len(f.events) >= 300 for f in followers), 10,
                   "300 events at every client", [p1, p2])

        n2.kill()
        p2.join(5)
        self.assertFalse(p2.is_alive())
        self.assertIsNone(p2.failure)
        self.assertIsNotNone(p2.ended, "the killed node's publisher connection ended")
        self.assertGreater(len(p2.acked), 0)
        pump_until(followers, lambda: followers[1].lost and followers[2].lost, 5,
                   "the killed node's streams to end", [p1])
        followers[1].open(n3)
        followers[2].open(n1)
        marks = [len(f.events) for f in followers]
        pump_until(followers, lambda: all(len(f.events) >= m + 200 for f, m in
                                          zip(followers, marks)), 10,
                   "200 more events at every client", [p1])

        n2.start()
        p3.start()
        followers[3].reopen(n2)
        marks = [len(f.events) for f in followers]
        pump_until(followers, lambda: len(p3.acked) >= 300 and all(
            len(f.events) >= m + 300 for f, m in zip(followers, marks)), 10,
            "events through the restarted node", [p1, p3])
        p1.stop()
        p3.stop()
        p1.join(5)
        p3.join(5)
        for p in (p1, p3):
            self.assertFalse(p.is_alive())
            self.assertIsNone(p.failure)
            self.assertIsNone(p.ended)
            self.assertEqual(p.refused, {}, "publisher %s refused while Redis was up" % p.label)
            self.assertEqual(p.unanswered, [])
        self.assertEqual(p2.refused, {})
        acked = {}
        for p in pubs:
            acked.update(p.acked_data())
            self.assertIdsIncrease([p.acked[k] for k in sorted(p.acked)])
        pump_until(followers, lambda: all(f.has_all(acked) for f in followers), 10,
                   "every acknowledged event at every client", pubs)
        pump_for(followers, 0.3)
        # Lines node 2 took but did not answer before it died may have been committed: each
        # then reaches every client once, like any other event.
        check_deliveries({f.name: f.events for f in followers}, acked, p2.unacked_data())
        self.assertEqual([f.connections for f in followers], [1, 2, 2, 2])
        for f in followers:
            self.assertFalse(f.lost, "client %s was disconnected" % f.name)


class RedisDataLossTest(RedisEngineCase):
    def _lost_data_scenario(self, lose, reconnects):
        """Old events, then `lose(redis, a, b)`; then the epoch is new, no id comes back, old
        ids get sidecar.missed on either node, and open streams get the new events once."""
        redis = self.start_redis()
        a, b = self.cluster(2, redis, command_timeout="300ms", connect_timeout="300ms")
        pa, pb = self.publisher(a), self.publisher(b)
        fa, fb = Follower(self, "on-a", a, ["public.l"]), Follower(self, "on-b", b, ["public.l"])
        old = [pa.publish_ok("public.l", "o%d" % k) for k in range(5)]
        old.append(pb.publish_ok("public.l", "o5"))
        old_ids = [r["id"] for r in old]
        old_epoch = parse_id(old_ids[0])[0]
        old_rows = expect_rows(old, ["o%d" % k for k in range(6)])
        pump_until([fa, fb], lambda: all(len(f.events) >= 6 for f in (fa, fb)), 5,
                   "the old events")
        for f in (fa, fb):
            self.assertEqual(rows_of(f.events), old_rows, f.name)

        lose(redis, a, b)
        self.assertEqual(redis.command("DBSIZE"), 0, "Redis still has data")

        first = self.publish_when_back if reconnects else (
            lambda pub, topic, data: pub.publish_ok(topic, data))
        new = [first(pb, "public.l", "n0"), first(pa, "public.l", "n1")]
        new += [(pa if k % 2 else pb).publish_ok("public.l", "n%d" % k) for k in range(2, 8)]
        new_ids = [r["id"] for r in new]
        self.assertIdsIncrease(new_ids)
        self.assertNotEqual(parse_id(new_ids[0])[0], old_epoch, "the epoch did not change")
        self.assertEqual(set(new_ids) & set(old_ids), set(), "an old id was reused")
        new_data = ["n%d" % k for k in range(8)]
        # A resume with an old id, whether its seq is below or above the new ones, on either
        # node: sidecar.missed with the newest id, then live events only.
        for node, resumed_from in ((b, old_ids[-1]), (a, old_ids[0]), (b, old_ids[2])):
            with self.subTest(node=node.sse_port, last_event_id=resumed_from):
                client = self.stream(node, ["public.l"], headers={"Last-Event-ID": resumed_from})
                assert_missed(self, client.next_event(), resumed_from, new_ids[-1])
                client.assert_no_event(0.2)
                client.close()
        # A resume from a new id replays the new events after it.
        client = self.stream(a, ["public.l"], headers={"Last-Event-ID": new_ids[3]})
        self.assertEqual(rows_of(client.read_events(4)), expect_rows(new[4:], new_data[4:]))
        client.assert_no_event(0.1)
        # Streams that stayed open get the new events once.
        pump_until([fa, fb], lambda: all(f.data()[-1:] == ["n7"] for f in (fa, fb)), 5,
                   "the new events at the open streams")
        pump_for([fa, fb], 0.2)
        for f in (fa, fb):
            self.assertEqual(rows_of(f.events[:6]), old_rows)
            assert_open_across_loss(self, f.events[6:], new, new_data, f.name)
            self.assertEqual(f.connections, 1)

    def test_flushall_changes_the_epoch(self):
        self._lost_data_scenario(lambda redis, a, b: redis.flushall(), reconnects=False)

    def test_restart_without_persistence_changes_the_epoch(self):
        def lose(redis, a, b):
            redis.restart()
            for node in (a, b):
                self.wait_ready(node, 200)
        self._lost_data_scenario(lose, reconnects=True)

    def test_restart_with_appendonly_keeps_the_epoch(self):
        """Redis with appendfsync always gets SIGKILL: publishes are refused while it is down,
        and after its restart the same epoch continues; open streams and resumes get every
        event once, including what node a published before node b (which retries only every
        3s) was back."""
        redis = self.start_redis(appendonly=True)
        timeouts = {"command_timeout": "300ms", "connect_timeout": "300ms"}
        (a,), prefix = self.start_redis_sidecars(redis, 1, **timeouts)
        (b,), _ = self.start_redis_sidecars(redis, 1, key_prefix=prefix, reconnect_backoff="3s",
                                            max_reconnect_backoff="3s", **timeouts)
        pa, pb = self.publisher(a), self.publisher(b)
        fa, fb = Follower(self, "on-a", a, ["public.aof"]), Follower(self, "on-b", b,
                                                                      ["public.aof"])
        before = [pa.publish_ok("public.aof", "b0"), pb.publish_ok("public.aof", "b1"),
                  pa.publish_ok("public.aof", "b2")]
        redis.kill()
        self.publish_refused(pa, "public.aof")
        self.publish_refused(pb, "public.aof")
        for node in (a, b):
            self.wait_ready(node, 503)
            self.assertEqual(node.metric("sse_engine_up"), 0)
        redis.start()
        self.wait_ready(a, 200)
        after = [self.publish_when_back(pa, "public.aof", "a0"), pa.publish_ok("public.aof", "a1")]
        self.assertEqual(self.ready(b), 503, "node b was back before node a published, so this "
                                             "did not test catching up")
        self.wait_ready(b, 200)
        after.append(self.publish_when_back(pb, "public.aof", "a2"))
        every = before + after
        data = ["b0", "b1", "b2", "a0", "a1", "a2"]
        self.assertIdsIncrease([r["id"] for r in every])  # same epoch, seq goes on
        for node in (a, b):
            self.assertEqual(node.metric("sse_engine_up"), 1)
        pump_until([fa, fb], lambda: all(len(f.events) >= 6 for f in (fa, fb)), 5,
                   "every event at both open streams")
        pump_for([fa, fb], 0.2)
        for f in (fa, fb):
            self.assertEqual(rows_of(f.events), expect_rows(every, data), f.name)
            self.assertEqual(f.connections, 1)
            self.assertFalse(f.lost)
        client = self.stream(b, ["public.aof"], headers={"Last-Event-ID": before[0]["id"]})
        self.assertEqual(rows_of(client.read_events(5)), expect_rows(every[1:], data[1:]))
        client.assert_no_event(0.2)


class RedisOutageTest(RedisEngineCase):
    def test_stopped_redis_refuses_publishes_and_recovers(self):
        """Redis gets SIGSTOP during a publishing loop, then SIGCONT: refusals say "engine
        unavailable" and come promptly, nothing acknowledged is lost or doubled, streams stay
        open with heartbeats, /readyz and sse_engine_up follow, and delivery resumes."""
        redis = self.start_redis()
        a, b = self.cluster(2, redis, overrides={"stream": {"heartbeat_interval": "200ms"}},
                            command_timeout="300ms", connect_timeout="300ms")
        topic = "public.u.loop"
        followers = [Follower(self, "on-a", a, [topic]), Follower(self, "on-b", b, [topic]),
                     Follower(self, "on-b-pattern", b, ["public.u.*"])]
        pub = NumberedPublisher(a, topic, "u", batch=1, interval=0.002)
        self.addCleanup(pub.finish)
        pub.start()
        pump_until(followers, lambda: all(len(f.events) >= 30 for f in followers), 10,
                   "30 events at every client", [pub])

        redis.pause()
        paused_at = time.monotonic()
        heartbeats = [len(f.client.comments) for f in followers]
        pump_until(followers, lambda: len(pub.refused) >= 5, 5, "refusals", [pub])
        for node in (a, b):
            pump_until(followers, lambda node=node: self.ready(node) == 503, 6,
                       "/readyz 503 on :%d" % node.admin_port, [pub])
            self.assertEqual(node.metric("sse_engine_up"), 0)
        start = time.monotonic()
        status, headers, body = b.http_publish({"topic": topic, "data": "over http"})
        self.assertEqual(status, 503, body)
        self.assertTrue(headers.get("retry-after", "").isdigit(), headers)
        self.assertLess(time.monotonic() - start, PROMPT)
        pump_for(followers, max(0.0, 2.0 - (time.monotonic() - paused_at)))
        for f, count in zip(followers, heartbeats):
            self.assertFalse(f.lost, "stream %s ended while Redis was stopped" % f.name)
            self.assertGreaterEqual(len(f.client.comments) - count, 3,
                                    "heartbeats on %s while Redis was stopped" % f.name)

        resumed_at = time.monotonic()
        redis.resume()
        for node in (a, b):
            pump_until(followers, lambda node=node: self.ready(node) == 200, 8,
                       "/readyz 200 on :%d" % node.admin_port, [pub])
        pump_until(followers, lambda: sum(1 for k in pub.acked
                                          if pub.sent_at[k] > resumed_at) >= 30, 8,
                   "acknowledged publishes after SIGCONT", [pub])
        pub.stop()
        pub.join(5)
        self.assertFalse(pub.is_alive())
        self.assertIsNone(pub.failure)
        self.assertIsNone(pub.ended)
        self.assertEqual(pub.unanswered, [])
        for node in (a, b):
            self.assertEqual(node.metric("sse_engine_up"), 1)

        self.assertEqual({e for e in pub.refused.values()}, {UNAVAILABLE})
        for k in pub.refused:
            self.assertEqual(set(pub.replies[k]), {"ok", "error", "ref"}, pub.replies[k])
        slow = {k: pub.replied_at[k] - pub.sent_at[k] for k in pub.replied_at
                if pub.replied_at[k] - pub.sent_at[k] >= PROMPT}
        self.assertEqual(slow, {}, "replies that took %.1fs or more" % PROMPT)
        # Nothing can be committed while Redis is stopped.
        during = [k for k in pub.acked if paused_at + 0.05 < pub.sent_at[k] and
                  pub.replied_at[k] < resumed_at]
        self.assertEqual(during, [], "acknowledged while Redis was stopped")
        self.assertIdsIncrease([pub.acked[k] for k in sorted(pub.acked)])

        acked = pub.acked_data()
        pump_until(followers, lambda: all(f.has_all(acked) for f in followers), 8,
                   "every acknowledged event at every client")
        pump_for(followers, 0.3)
        # A refused line Redis had already received may still be committed when it continues;
        # then it reaches every client once, like any other event.
        check_deliveries({f.name: f.events for f in followers}, acked,
                         pub.unacked_data() | {"over http"})
        for f in followers:
            self.assertEqual(f.connections, 1)
            self.assertFalse(f.lost)

    def test_killed_redis_refuses_at_once_and_is_reconnected(self):
        """Redis gets SIGKILL: socket and HTTP publishes are refused promptly on both nodes,
        /readyz and sse_engine_up say so, open streams stay open with heartbeats; Redis
        started again (empty) is reconnected without help and delivery goes on."""
        redis = self.start_redis()
        a, b = self.cluster(2, redis, overrides={"stream": {"heartbeat_interval": "200ms"}},
                            command_timeout="300ms", connect_timeout="300ms")
        follower = Follower(self, "on-b", b, ["public.gone"])
        pa, pb = self.publisher(a), self.publisher(b)
        first = pa.publish_ok("public.gone", "first")
        pump_until([follower], lambda: len(follower.events) == 1, 5, "the first event")
        redis.kill()
        self.publish_refused(pa, "public.gone")
        self.publish_refused(pb, "public.gone")
        for node in (a, b):
            self.wait_ready(node, 503)
            self.assertEqual(node.metric("sse_engine_up"), 0)
            start = time.monotonic()
            status, headers, _ = node.http_publish({"topic": "public.gone", "data": "x"})
            self.assertEqual(status, 503)
            self.assertTrue(headers.get("retry-after", "").isdigit(), headers)
            self.assertLess(time.monotonic() - start, PROMPT)
        heartbeats = len(follower.client.comments)
        pump_for([follower], 1.0)
        self.assertGreaterEqual(len(follower.client.comments) - heartbeats, 3)
        self.assertFalse(follower.lost)
        redis.start()  # empty: no persistence
        for node in (a, b):
            self.wait_ready(node, 200)
            self.assertEqual(node.metric("sse_engine_up"), 1)
        late = [self.publish_when_back(pb, "public.gone", "back"),
                self.publish_when_back(pa, "public.gone", "again")]
        self.assertNotEqual(parse_id(late[0]["id"])[0], parse_id(first["id"])[0])
        pump_until([follower], lambda: follower.data()[-1:] == ["again"], 5, "the new events")
        pump_for([follower], 0.2)
        self.assertEqual(rows_of(follower.events[:1]), [("message", first["id"], "first")])
        assert_open_across_loss(self, follower.events[1:], late, ["back", "again"], "on-b")
        self.assertEqual(follower.connections, 1)


class RedisConnectionConfigTest(RedisEngineCase):
    def test_unix_socket_address(self):
        redis = self.start_redis(unix_socket=True)
        nodes, _ = self.start_redis_sidecars(redis.unix_address, 2)
        check_one_topic(self, nodes)

    def test_acl_user_with_password_file(self):
        password = "pw-%d" % os.getpid()
        redis = self.start_redis(auth=("sidecar", password), extra_args=[
            "--user", "default", "off",
            "--user", "sidecar", "on", ">" + password, "~*", "&*", "+@all"])
        secrets = tempfile.mkdtemp(prefix="sse-it-secret-", dir="/tmp")
        self.addCleanup(shutil.rmtree, secrets, True)
        good, bad = os.path.join(secrets, "good"), os.path.join(secrets, "bad")
        for path, text in ((good, password), (bad, "wrong")):
            with open(path, "w") as f:
                f.write(text)  # no newline: the file holds exactly the password
            os.chmod(path, 0o600)
        nodes, _ = self.start_redis_sidecars(redis, 2, username="sidecar", password_file=good)
        check_one_topic(self, nodes)
        (wrong,), _ = self.start_redis_sidecars(redis, 1, start=False, username="sidecar",
                                                password_file=bad)
        with self.assertRaises(AssertionError):
            wrong.start(timeout=2)


if __name__ == "__main__":
    unittest.main()
