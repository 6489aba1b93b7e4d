"""The Redis engine through Redis Sentinel: one primary, one replica and three real
redis-sentinel processes. The sidecars find the primary through the sentinels and follow a
failover; publishing goes on after the switch, no id is ever given to two events, and a live or
resuming stream gets every event after the switch, and for the moment of the switch either the
events or `sidecar.missed`."""

import os
import shutil
import subprocess
import tempfile
import time
import unittest

from redis_harness import REDIS_SERVER, RespClient, RespError, _free_port
from sidecar_harness import wait_until
from test_redis_engine import RedisEngineCase

REDIS_SENTINEL = shutil.which("redis-sentinel") or "/usr/bin/redis-sentinel"
MASTER = "cluster"


class Sentinel:
    """One redis-sentinel on a free loopback port, watching MASTER at the given primary."""

    def __init__(self, primary_port):
        self.port = _free_port()
        self.dir = tempfile.mkdtemp(prefix="sse-sentinel-", dir="/tmp")
        self.config = os.path.join(self.dir, "sentinel.conf")
        with open(self.config, "w") as f:
            f.write("port %d\nbind 127.0.0.1\ndir %s\n" % (self.port, self.dir))
            f.write("sentinel monitor %s 127.0.0.1 %d 2\n" % (MASTER, primary_port))
            f.write("sentinel down-after-milliseconds %s 1000\n" % MASTER)
            f.write("sentinel failover-timeout %s 3000\n" % MASTER)
        self.log = open(os.path.join(self.dir, "sentinel.log"), "ab")
        self.proc = subprocess.Popen([REDIS_SENTINEL, self.config], stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def command(self, *args):
        with RespClient(self.port, timeout=2.0) as c:
            return c.command(*args)

    def primary_port(self):
        try:
            reply = self.command("SENTINEL", "get-master-addr-by-name", MASTER)
        except (OSError, AssertionError, Exception):  # not up yet
            return None
        return int(reply[1]) if reply else None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@unittest.skipUnless(os.path.exists(REDIS_SENTINEL) and os.path.exists(REDIS_SERVER),
                     "redis-sentinel and redis-server are needed (Debian packages of the same names)")
class SentinelFailoverTest(RedisEngineCase):
    def start_sentinels(self, primary):
        sentinels = []
        for _ in range(3):
            s = Sentinel(primary.port)
            self.addCleanup(s.stop)
            sentinels.append(s)
        wait_until(lambda: all(s.primary_port() == primary.port for s in sentinels), 10,
                   message="the sentinels to see the primary")
        return sentinels

    def test_publishing_goes_on_after_a_failover_and_no_id_is_reused(self):
        primary = self.start_redis()
        replica = self.start_redis(extra_args=["--replicaof", "127.0.0.1", str(primary.port)])
        wait_until(lambda: replica.info("replication").get("master_link_status") == "up", 10,
                   message="the replica to sync")
        sentinels = self.start_sentinels(primary)
        wait_until(lambda: all(s.command("SENTINEL", "replicas", MASTER) for s in sentinels), 10,
                   message="the sentinels to know the replica")
        nodes, _ = self.start_redis_sidecars(
            "unused:1", 2, sentinels=[s.address for s in sentinels], master_name=MASTER,
            command_timeout="500ms")
        a, b = nodes
        live = self.stream(b, ["public.fo"])
        pub = self.publisher(a)

        acked = {}  # id -> data: an id is never given to two events
        order = []

        def publish(n):
            reply = pub.publish("public.fo", "event-%d" % n)
            if reply.get("ok"):
                self.assertNotIn(reply["id"], acked, "an id was given twice")
                acked[reply["id"]] = "event-%d" % n
                order.append(reply["id"])
            return reply

        for n in range(20):
            self.assertTrue(publish(n)["ok"])
        before_switch = order[-1]

        # A sentinel promotes a replica only once it has its INFO (asked every few seconds):
        # until then it answers NOGOODSLAVE.
        def failover():
            try:
                return sentinels[0].command("SENTINEL", "failover", MASTER) == "OK"
            except RespError as e:
                if "NOGOODSLAVE" not in str(e):
                    raise
                return False
        wait_until(failover, 20, interval=0.5, message="a sentinel to start the failover")
        wait_until(lambda: sentinels[0].primary_port() == replica.port, 15,
                   message="the failover to the replica")
        # Publishing goes on: a few may be refused during the switch, then all are taken.
        after = []
        deadline = time.monotonic() + 15
        n = 20
        while len(after) < 30:
            self.assertLess(time.monotonic(), deadline, "publishing did not resume")
            reply = publish(n)
            n += 1
            if reply.get("ok"):
                after.append(reply["id"])
            else:
                self.assertEqual(reply["error"], "engine unavailable")
                time.sleep(0.05)
        self.assertEqual(len(set(after)), len(after))

        # The live stream: every event acknowledged after the switch, once, in order; for the
        # ones around it, each one or a sidecar.missed.
        def received():
            live.drain_available(0.05)
            return [e for e in live.events if e.event != "sidecar.missed"]
        wait_until(lambda: set(after) <= {e.id for e in received()}, 10,
                   message="the live stream to get the events after the switch")
        got = received()
        ids = [e.id for e in got]
        self.assertEqual(len(ids), len(set(ids)), "an event arrived twice")
        for e in got:
            self.assertEqual(acked.get(e.id, e.data), e.data, "an id carried another event")
        missing = [i for i in order if i not in set(ids)]
        if missing:
            self.assertTrue(any(e.event == "sidecar.missed" for e in live.events),
                            "events %r neither delivered nor reported missed" % missing[:5])

        # A stream resuming from before the switch, on the other node: every acknowledged event
        # after its id, or sidecar.missed.
        resumed = self.stream(a, ["public.fo"], headers={"Last-Event-ID": before_switch})
        first = resumed.next_event(timeout=5)
        if first.event == "sidecar.missed":
            return
        events = [first] + resumed.read_events(len(after) - 1, timeout=5)
        self.assertTrue(set(after) <= {e.id for e in events} | {first.id})


if __name__ == "__main__":
    unittest.main()
