"""The Unix-socket publisher: refused input, line handling and backpressure."""

import os
import stat
import threading
import time
import unittest

from sidecar_harness import SidecarTestCase, Deadline


class BadInputTest(SidecarTestCase):
    """Every refused line gets {"ok":false,"error":...}; the connection keeps working."""

    @classmethod
    def setUpClass(cls):
        # (name, raw line, metric kind, text expected in the error (lower case), ref echoed)
        cls.cases = [
            ("malformed JSON", b'{"topic":"public.x","data":', "malformed", "json", None),
            ("not JSON at all", b"hello world", "malformed", "json", None),
            ("trailing garbage", b'{"topic":"public.x"} extra', "malformed", "json", None),
            ("invalid UTF-8", b'{"topic":"public.x","data":"\xff\xfe"}', "malformed", "",
             None),
            ("array", b'[{"topic":"public.x"}]', "malformed", "object", None),
            ("string", b'"public.x"', "malformed", "object", None),
            ("number", b"42", "malformed", "object", None),
            ("null", b"null", "malformed", "object", None),
            ("missing topic", b'{"data":"x","ref":1}', "invalid", "topic", 1),
            ("empty topic", b'{"topic":"","ref":2}', "invalid", "topic", 2),
            ("bad topic chars", b'{"topic":"public.a b","ref":3}', "invalid", "topic", 3),
            ("empty segment", b'{"topic":"public..x","ref":4}', "invalid", "topic", 4),
            ("pattern as topic", b'{"topic":"public.*","ref":5}', "invalid", "topic", 5),
            ("topic too long", ('{"topic":"public.%s","ref":6}' % ("x" * 250)).encode(),
             "invalid", "topic", 6),
            ("topic not a string", b'{"topic":7,"ref":7}', "malformed", "topic", 7),
            ("topics not an array", b'{"topics":"public.x","ref":8}', "malformed", "topics",
             8),
            ("bad topic in topics", b'{"topics":["public.x","bad topic"],"ref":9}', "invalid",
             "topic", 9),
            ("event name with LF", b'{"topic":"public.x","event":"a\\nb","ref":10}',
             "invalid", "event", 10),
            ("event name with CR", b'{"topic":"public.x","event":"a\\rb","ref":11}',
             "invalid", "event", 11),
            ("event name with NUL", b'{"topic":"public.x","event":"a\\u0000b","ref":12}',
             "invalid", "event", 12),
            ("event name not a string", b'{"topic":"public.x","event":5,"ref":13}',
             "malformed", "event", 13),
            ("reserved event name", b'{"topic":"public.x","event":"sidecar.missed","ref":14}',
             "invalid", "sidecar.", 14),
            ("reserved event prefix", b'{"topic":"public.x","event":"sidecar.anything"}',
             "invalid", "reserved", None),
            ("unknown field", b'{"topic":"public.x","colour":"red","ref":15}', "malformed",
             "colour", 15),
            ("id field", b'{"topic":"public.x","id":"1-1","ref":16}', "invalid", "id", 16),
            ("negative retry", b'{"topic":"public.x","retry":-1,"ref":17}', "invalid",
             "retry", 17),
            ("retry too large", b'{"topic":"public.x","retry":86400001,"ref":20}', "invalid",
             "retry", 20),
            ("event name too long", ('{"topic":"public.x","event":"%s","ref":21}' % ("e" * 257))
             .encode(), "invalid", "256", 21),
            ("too many topics", ('{"topics":[%s],"ref":22}' % ",".join(
                '"public.t%d"' % i for i in range(65))).encode(), "invalid", "topics", 22),
            ("retry not a number", b'{"topic":"public.x","retry":"5s","ref":18}', "invalid",
             "retry", 18),
            ("event too large", ('{"topic":"public.x","data":"%s","ref":19}' % ("x" * 2000))
             .encode(), "too_large", "max_event_bytes", 19),
            ("name plus data too large", ('{"topic":"public.x","event":"%s","data":"%s"}'
                                          % ("e" * 200, "d" * 900)).encode(), "too_large",
             "max_event_bytes", None),
        ]

    def test_each_bad_line_is_refused_and_the_connection_still_works(self):
        sc = self.start_sidecar({"limits": {"max_event_bytes": "1KiB"}})
        client = self.stream(sc, ["public.*"])
        pub = self.publisher(sc)
        before = sc.metrics()
        expected_kinds = {}
        good_ids = []
        for name, line, kind, text, ref in self.cases:
            with self.subTest(case=name):
                pub.send_raw(line + b"\n")
                reply = pub.read_reply()
                self.assertIs(reply.get("ok"), False, reply)
                self.assertIsInstance(reply.get("error"), str)
                self.assertTrue(reply["error"], reply)
                self.assertNotIn("\n", reply["error"])
                self.assertIn(text, reply["error"].lower(), reply)
                if ref is not None:
                    self.assertEqual(reply.get("ref"), ref, reply)
                self.assertNotIn("id", reply)
                expected_kinds[kind] = expected_kinds.get(kind, 0) + 1
                # Same connection, next line: published fine.
                good = pub.publish("public.x", "after " + name, ref="good")
                self.assertIs(good.get("ok"), True, good)
                self.assertEqual(good["ref"], "good")
                good_ids.append(good["id"])
        # Only the good events reached the stream, in order.
        events = client.read_events(len(good_ids))
        self.assertEqual([e.id for e in events], good_ids)
        self.assertEqual(events[0].data, "after " + self.cases[0][0])
        client.assert_no_event(0.2)
        after = sc.metrics()
        for kind, count in expected_kinds.items():
            key = 'sse_ingest_errors_total{kind="%s"}' % kind
            self.assertEqual(after[key] - before[key], count, key)
        self.assertEqual(after["sse_events_published_total"]
                         - before["sse_events_published_total"], len(good_ids))

    def test_event_at_exactly_max_event_bytes_is_accepted(self):
        sc = self.start_sidecar({"limits": {"max_event_bytes": "1KiB"}})
        pub = self.publisher(sc)
        self.assertTrue(pub.publish("public.x", "d" * 1024)["ok"])
        self.assertTrue(pub.publish("public.x", "d" * 1019, event="named")["ok"])
        self.assertFalse(pub.publish("public.x", "d" * 1025)["ok"])
        self.assertFalse(pub.publish("public.x", "d" * 1020, event="named")["ok"])

    def test_line_longer_than_max_line_bytes(self):
        sc = self.start_sidecar({"publish": {"max_line_bytes": "4KiB"},
                                 "limits": {"max_event_bytes": "64KiB"}})
        client = self.stream(sc, ["public.long"])
        pub = self.publisher(sc)
        long_line = ('{"topic":"public.long","data":"%s"}' % ("L" * 20000)).encode()
        good = b'{"topic":"public.long","data":"next","ref":"n"}'
        # The over-long line and the next line in one write.
        pub.send_raw(long_line + b"\n" + good + b"\n")
        first = pub.read_reply()
        self.assertIs(first["ok"], False, first)
        self.assertIn("max_line_bytes", first["error"])
        second = pub.read_reply()
        self.assertIs(second["ok"], True, second)
        self.assertEqual(second["ref"], "n")
        # The over-long line sent in pieces, with the good line after its end.
        pieces = [long_line[i:i + 3000] for i in range(0, len(long_line), 3000)]
        for piece in pieces:
            pub.send_raw(piece)
            time.sleep(0.01)
        pub.send_raw(b"\n" + good + b"\n")
        replies = pub.read_replies(2)
        self.assertIs(replies[0]["ok"], False, replies)
        self.assertIn("max_line_bytes", replies[0]["error"])
        self.assertIs(replies[1]["ok"], True, replies)
        pub.assert_open()
        # Exactly one reply per line: nothing else is pending.
        third = pub.publish("public.long", "last", ref="last")
        self.assertEqual(third.get("ref"), "last", third)
        self.assertEqual([e.data for e in client.read_events(3)], ["next", "next", "last"])
        self.assertEqual(sc.metric('sse_ingest_errors_total{kind="line_too_long"}'), 2)
        # A line just under the bound is fine.
        fits = ('{"topic":"public.long","data":"%s"}' % ("F" * (4096 - 40))).encode()
        self.assertLessEqual(len(fits), 4096)
        pub.send_raw(fits + b"\n")
        self.assertIs(pub.read_reply()["ok"], True)

    def test_line_of_exactly_max_line_bytes(self):
        sc = self.start_sidecar({"publish": {"max_line_bytes": "1KiB"}})
        pub = self.publisher(sc)
        line = b'{"topic":"public.a","data":"' + b"x" * (1024 - 30) + b'"}'
        self.assertEqual(len(line), 1024)
        too_long = line[:-2] + b'x"}'
        for name, pieces, ok in [
                ("LF", [line + b"\n"], True),
                ("CRLF", [line + b"\r\n"], True),
                ("LF in a later read", [line, b"\n"], True),
                ("CRLF split after CR", [line + b"\r", b"\n"], True),
                ("CRLF in a later read", [line, b"\r\n"], True),
                ("one byte more", [too_long + b"\n"], False),
                ("one byte more, split", [too_long, b"\n"], False)]:
            with self.subTest(case=name):
                for piece in pieces:
                    pub.send_raw(piece)
                    time.sleep(0.05)
                reply = pub.read_reply()
                self.assertEqual(reply["ok"], ok, reply)
                if not ok:
                    self.assertIn("max_line_bytes", reply["error"])

    def test_partial_lines_across_sends(self):
        sc = self.start_sidecar()
        client = self.stream(sc, ["public.part"])
        pub = self.publisher(sc)
        text = ('{"topic":"public.part","data":"héllo ✓","ref":1}\n'
                '{"topic":"public.part","data":"two","ref":2}\n'
                '{"topic":"public.part","data":"three","ref":3}\n').encode("utf-8")
        # Split everywhere, including inside the multi-byte characters.
        cuts = [0, 5, 17, 33, 34, 35, 36, 50, 51, 52, 90, 91, len(text)]
        for a, b in zip(cuts, cuts[1:]):
            pub.send_raw(text[a:b])
            time.sleep(0.03)
        replies = pub.read_replies(3)
        self.assertEqual([r["ref"] for r in replies], [1, 2, 3])
        self.assertTrue(all(r["ok"] for r in replies), replies)
        self.assertEqual([e.data for e in client.read_events(3)], ["héllo ✓", "two", "three"])
        # A partial line alone gets no reply until its end arrives.
        pub.send_raw(b'{"topic":"public.part",')
        with self.assertRaises(AssertionError):
            pub.read_reply(timeout=0.3)
        pub.send_raw(b'"data":"done","ref":4}\n')
        self.assertEqual(pub.read_reply()["ref"], 4)

    def test_many_lines_in_one_send(self):
        sc = self.start_sidecar()
        client = self.stream(sc, ["public.many"])
        pub = self.publisher(sc)
        n = 500
        lines = []
        for i in range(n):
            if i % 7 == 3:
                lines.append(b'{"topic":"bad topic","ref":%d}' % i)
            else:
                lines.append(b'{"topic":"public.many","data":"%d","ref":%d}' % (i, i))
        pub.send_raw(b"\n".join(lines) + b"\n")
        replies = pub.read_replies(n)
        self.assertEqual([r["ref"] for r in replies], list(range(n)))
        for i, r in enumerate(replies):
            self.assertEqual(r["ok"], i % 7 != 3, r)
        good_ids = [r["id"] for r in replies if r["ok"]]
        self.assertIdsIncrease(good_ids)
        events = client.read_events(len(good_ids))
        self.assertEqual([e.id for e in events], good_ids)
        self.assertEqual([e.data for e in events], [str(i) for i in range(n) if i % 7 != 3])

    def test_blank_lines_and_crlf(self):
        sc = self.start_sidecar()
        pub = self.publisher(sc)
        pub.send_raw(b'\n\n   \n\t\n{"topic":"public.c","ref":1}\r\n\r\n{"topic":"public.c","ref":2}\n')
        replies = pub.read_replies(2)
        self.assertEqual([(r["ok"], r["ref"]) for r in replies], [(True, 1), (True, 2)])
        with self.assertRaises(AssertionError):
            pub.read_reply(timeout=0.3)  # blank lines get no reply

    def test_replies_owed_are_sent_after_the_publisher_stops_sending(self):
        sc = self.start_sidecar()
        pub = self.publisher(sc)
        pub.send(*[{"topic": "public.eof", "ref": i} for i in range(100)])
        pub.shutdown_write()
        replies = pub.read_replies(100)
        self.assertEqual([r["ref"] for r in replies], list(range(100)))
        # Then the sidecar closes the connection.
        extra = []
        deadline = Deadline(5)
        while not pub.eof and not deadline.expired():
            try:
                extra.append(pub.read_line(timeout=0.2))
            except AssertionError:
                pass
        self.assertEqual(extra, [])
        self.assertTrue(pub.eof, "the sidecar did not close the finished publisher")
        wait_ok = sc.wait_metric("sse_publisher_connections", lambda v: v == 0)
        self.assertEqual(wait_ok, 0)

    def test_socket_file_mode(self):
        sc = self.start_sidecar({"publish": {"socket_mode": "0600"}})
        st = os.stat(sc.socket_path)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)


class BackpressureTest(SidecarTestCase):
    def test_publisher_that_does_not_read_is_paused_not_dropped(self):
        sc = self.start_sidecar({"publish": {"reply_buffer_bytes": "4KiB"},
                                 "limits": {"subscriber_buffer_bytes": "64MiB"}})
        client = self.stream(sc, ["public.bp"])
        pub = self.publisher(sc)
        n = 20000
        payload = b"".join(b'{"topic":"public.bp","data":"%d","ref":%d}\n' % (i, i)
                           for i in range(n))
        sent = threading.Event()
        send_error = []

        def send_everything():
            try:
                pub.sock.settimeout(60)
                pub.sock.sendall(payload)
            except Exception as e:
                send_error.append(e)
            finally:
                sent.set()

        sender = threading.Thread(target=send_everything, daemon=True)
        sender.start()
        # While this publisher is not reading, the sidecar stops reading from it...
        time.sleep(0.5)
        self.assertFalse(sent.is_set(), "all %d lines were taken without the replies being "
                                        "read: no backpressure" % n)
        stalled_at = sc.metric("sse_events_published_total")
        self.assertGreater(stalled_at, 0)
        self.assertLess(stalled_at, n)
        time.sleep(0.3)
        self.assertEqual(sc.metric("sse_events_published_total"), stalled_at,
                         "the sidecar kept reading from a publisher that does not read")
        # ...and everybody else is still served.
        other = self.publisher(sc)
        reply = other.publish("public.bp", "from the other publisher", ref="other")
        self.assertIs(reply["ok"], True, reply)
        status, _, body = sc.admin_request("GET", "/healthz", timeout=2)
        self.assertEqual((status, body), (200, b"ok\n"))
        status, _, _ = sc.http_publish({"topic": "public.bp", "data": "over http"})
        self.assertEqual(status, 200)
        fresh = self.stream(sc, ["public.bp"])
        self.assertEqual(fresh.status, 200)

        # Once it reads, every reply arrives, in order, and the connection is still usable.
        replies = pub.read_replies(n, timeout=60)
        self.assertEqual([r["ref"] for r in replies], list(range(n)))
        self.assertTrue(all(r["ok"] for r in replies))
        self.assertIdsIncrease([r["id"] for r in replies])
        self.assertTrue(sent.wait(10))
        self.assertFalse(send_error, send_error)
        final = pub.publish("public.bp", "still here", ref="final")
        self.assertEqual((final["ok"], final["ref"]), (True, "final"))

        # The stream got all of them, in order, with the other publishers' events interleaved.
        events = client.read_events(n + 3, timeout=30)
        mine = [e for e in events if e.data.isdigit()]
        self.assertEqual([int(e.data) for e in mine], list(range(n)))
        self.assertEqual([e.id for e in mine], [r["id"] for r in replies])
        self.assertEqual(sc.metric("sse_events_published_total"), n + 3)


if __name__ == "__main__":
    unittest.main()
