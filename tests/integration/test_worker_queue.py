"""The queue between the hub and a stream worker is bounded (limits.worker_queue_bytes): a worker
too busy to keep up with publishing ends its streams, which resume from history with nothing lost,
instead of letting the events handed to it pile up in memory."""

import selectors
import socket
import threading
import time
import unittest

from sidecar_harness import SidecarTestCase, parse_id

BULK = 1500  # streams whose writes keep the one worker busy
PAYLOAD = "w" * 2000


class WorkerQueueBoundTest(SidecarTestCase):
    def test_a_worker_behind_its_bound_ends_its_streams_and_they_resume_without_loss(self):
        sc = self.start_sidecar({
            "workers": 1,
            "limits": {"worker_queue_bytes": "64KiB", "subscriber_buffer_bytes": "64MiB"},
            "history": {"max_events": 1000000, "max_bytes": "1GiB"},
        })
        # Streams that read and discard everything: each delivery is a write per stream.
        bulk = []
        for _ in range(BULK):
            s = socket.create_connection(("127.0.0.1", sc.sse_port))
            s.sendall(b"GET /events?topic=public.busy HTTP/1.1\r\nHost: x\r\n\r\n")
            bulk.append(s)
        self.addCleanup(lambda: [s.close() for s in bulk])
        stop = threading.Event()

        def discard():
            # epoll: these descriptors are past select()'s 1024.
            with selectors.DefaultSelector() as sel:
                for s in bulk:
                    sel.register(s, selectors.EVENT_READ)
                while not stop.is_set():
                    for key, _ in sel.select(0.05):
                        try:
                            if key.fileobj.recv(1 << 16):
                                continue
                        except OSError:
                            pass
                        sel.unregister(key.fileobj)

        reader = threading.Thread(target=discard, daemon=True)
        reader.start()
        self.addCleanup(stop.set)
        watcher = self.stream(sc, ["public.busy"])
        pub = self.publisher(sc)
        published = []
        deadline = time.monotonic() + 60
        while sc.metric("sse_worker_queue_overflows_total") == 0:
            self.assertLess(time.monotonic(), deadline, "the worker never fell behind")
            pub.send(*[{"topic": "public.busy", "data": PAYLOAD} for _ in range(200)])
            for r in pub.read_replies(200, timeout=30):
                self.assertTrue(r["ok"], r)
                published.append(r["id"])
        for _ in range(5):  # and a few more once it did
            pub.send(*[{"topic": "public.busy", "data": PAYLOAD} for _ in range(200)])
            published += [r["id"] for r in pub.read_replies(200, timeout=30)]
        stop.set()
        reader.join()

        # The watcher was ended with a reconnect hint; resuming from its last id it gets every
        # event exactly once and in order.
        watcher.read_to_eof(timeout=30)
        self.assertEqual(bytes(watcher.body).count(b"\nretry:") + bytes(watcher.body).startswith(b"retry:"), 2,
                         "ended without a reconnect hint")
        self.assertFalse(any(e.event.startswith("sidecar.") for e in watcher.events))
        received = [e.id for e in watcher.events]
        self.assertLess(len(received), len(published), "the watcher was not ended")
        resumed = self.stream(sc, ["public.busy"], headers={"Last-Event-ID": received[-1]})
        try:
            resumed.wait_for(lambda: len(resumed.events) >= len(published) - len(received), 30,
                             "the rest of the events")
        except AssertionError as err:
            seen = set(received) | {e.id for e in resumed.events}
            missing = [i for i in published if i not in seen]
            raise AssertionError("%s; %d published, %d before the end, %d resumed, %d missing "
                                 "(first %s)" % (err, len(published), len(received),
                                                 len(resumed.events), len(missing),
                                                 missing[:1])) from None
        self.assertFalse(any(e.event.startswith("sidecar.") for e in resumed.events))
        received += [e.id for e in resumed.events]
        self.assertEqual(received, published)
        self.assertEqual(sorted(received, key=lambda i: parse_id(i)[1]), received)

        m = sc.metrics()
        self.assertGreaterEqual(m['sse_connections_closed_total{reason="worker_behind"}'], 1)
        self.assertLessEqual(m['sse_worker_queue_bytes{worker="0"}'], 64 * 1024)
        self.assertIn("fell more than limits.worker_queue_bytes", sc.log())


if __name__ == "__main__":
    unittest.main()
