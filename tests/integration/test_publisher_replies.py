"""Socket publishers that cannot hang the app: the replies a connection asks for (a control line
{"replies":"all"|"errors"|"none"}, publish.socket_replies), the bounded pause of a publisher
that does not read its replies (publish.reply_stall_timeout), the bound on answers awaited from
the Redis engine, and the close that lets a publisher read its last line (a refused peer, a
stalled one)."""

import json
import os
import socket
import threading
import time
import unittest

from redis_harness import RedisTestCase
from sidecar_harness import Deadline, SidecarTestCase, SocketPublisher
from test_publisher_access import other_uid

STALL_OPTION = "publish.reply_stall_timeout"
# Scheduling slack of a busy two-core machine, on top of the stall timeout: a write() that has
# not returned by then is taken as blocked for good.
MARGIN = 2.0


def numbered_lines(n, topic="public.r", start=0):
    return [b'{"topic":"%s","data":"%d","ref":%d}\n' % (topic.encode(), i, i)
            for i in range(start, start + n)]


class BoundedWriter:
    """Writes `data` on a blocking socket with a send timeout, as a legacy publisher that never
    reads: every write() either returns or raises. `blocked` is set when one write() did not
    return within the timeout; `ended_by` holds the error that ended the writing (the sidecar
    closed the connection), if any."""

    def __init__(self, sock, data, write_timeout, chunk=4096, forever=False):
        self.sock = sock
        self.data = data
        self.forever = forever  # writes `data` again and again until a write fails
        self.write_timeout = write_timeout
        self.chunk = chunk
        self.sent = 0
        self.longest_write = 0.0
        self.blocked = False
        self.ended_by = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def join(self, timeout):
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def _run(self):
        self.sock.settimeout(self.write_timeout)
        view = memoryview(self.data)
        while self.sent < len(view) or self.forever:
            begun = time.monotonic()
            at = self.sent % len(view)
            try:
                n = self.sock.send(view[at:at + self.chunk])
            except socket.timeout:
                self.blocked = True
                return
            except OSError as e:  # BrokenPipeError, ConnectionResetError: closed by the sidecar
                self.ended_by = e
                return
            finally:
                self.longest_write = max(self.longest_write, time.monotonic() - begun)
            self.sent += n


def read_to_eof(sock, timeout):
    """Every byte until the sidecar ends the connection; AssertionError if it does not end it
    in time or resets it."""
    sock.settimeout(0.2)
    data = bytearray()
    deadline = Deadline(timeout)
    while True:
        try:
            chunk = sock.recv(262144)
        except socket.timeout:
            if deadline.expired():
                raise AssertionError("the connection did not end within %.1fs (%d bytes read)"
                                     % (timeout, len(data)))
            continue
        if not chunk:
            return bytes(data)
        data += chunk


class StallTest(SidecarTestCase):
    def test_publisher_that_never_reads_is_closed_and_no_write_blocks(self):
        stall = 1.0
        sc = self.start_sidecar({"publish": {"reply_buffer_bytes": "4KiB",
                                             "reply_stall_timeout": "%dms" % (stall * 1000)}})
        n = 20000
        pub = self.publisher(sc)
        writer = BoundedWriter(pub.sock, b"".join(numbered_lines(n)), stall + MARGIN).start()
        self.assertTrue(writer.join(30), "the writer is still writing after 30s")
        self.assertFalse(writer.blocked,
                         "a write() blocked for more than %.1fs (reply_stall_timeout %.1fs)"
                         % (stall + MARGIN, stall))
        # The sidecar did pause it, long enough to stall: the writer was held up at some write().
        self.assertGreaterEqual(writer.longest_write, stall * 0.5)

        # Only now does it read: the replies of the lines taken, in order, then the error line
        # naming the option, then the end of the connection.
        lines = read_to_eof(pub.sock, 10).decode("utf-8").splitlines()
        self.assertGreater(len(lines), 1)
        replies = [json.loads(line) for line in lines]
        last = replies.pop()
        self.assertIs(last["ok"], False, last)
        self.assertIn(STALL_OPTION, last["error"])
        self.assertNotIn("ref", last)
        self.assertEqual([r["ref"] for r in replies], list(range(len(replies))))
        self.assertTrue(all(r["ok"] for r in replies), [r for r in replies if not r["ok"]][:3])
        taken = len(replies)
        self.assertLess(taken, n)

        # Counted when the connection is gone: at its EOF or at the end of the linger.
        pub.close()
        sc.wait_metric('sse_publisher_closed_total{reason="stalled"}', lambda v: v == 1)
        m = sc.metrics()
        self.assertGreaterEqual(m['sse_publisher_paused_total{reason="replies"}'], 1)
        # Lines after the last one answered were not published.
        self.assertEqual(m["sse_events_published_total"], taken)
        sc.wait_metric("sse_publisher_connections", lambda v: v == 0)
        # Logged once for the connection, not once per line.
        log = sc.log()
        self.assertEqual(log.count("is not reading its replies"), 1, log)
        self.assertEqual(log.count("closing uid:"), 1, log)

        # The others are served throughout, and the next connection is a fresh start.
        again = self.publisher(sc)
        self.assertIs(again.publish("public.r", "after")["ok"], True)

    def test_slow_reader_is_never_closed(self):
        stall = 1.0
        sc = self.start_sidecar({"publish": {"reply_buffer_bytes": "4KiB",
                                             "reply_stall_timeout": "%dms" % (stall * 1000)},
                                 "limits": {"subscriber_buffer_bytes": "64MiB"}})
        client = self.stream(sc, ["public.r"])
        n = 8000
        pub = self.publisher(sc)
        writer = BoundedWriter(pub.sock, b"".join(numbered_lines(n)), 60).start()
        # Reads a little, then nothing for a while, again and again: several times the stall
        # timeout in all, but never idle for the whole of it.
        pub.sock.settimeout(5)
        data = bytearray()
        began = time.monotonic()
        while data.count(b"\n") < n:
            chunk = pub.sock.recv(32768)
            self.assertTrue(chunk, "the sidecar closed a publisher that reads")
            data += chunk
            time.sleep(0.2)
        elapsed = time.monotonic() - began
        self.assertTrue(writer.join(10))
        self.assertIsNone(writer.ended_by)
        self.assertFalse(writer.blocked)
        replies = [json.loads(line) for line in data.decode("utf-8").splitlines()]
        self.assertEqual([r["ref"] for r in replies], list(range(n)))
        self.assertTrue(all(r["ok"] for r in replies))
        self.assertGreater(elapsed, 2 * stall)  # the case is a slow reader, not a fast one
        m = sc.metrics()
        # Paused on its replies at least once (how often depends on how fast the writer's lines
        # arrive against the reads), and every line was published after it: it was resumed.
        self.assertGreaterEqual(m['sse_publisher_paused_total{reason="replies"}'], 1)
        self.assertEqual(m['sse_publisher_closed_total{reason="stalled"}'], 0)
        self.assertEqual(m["sse_events_published_total"], n)
        pub.assert_open()
        self.assertEqual(pub.publish("public.r", "still here", ref="last")["ref"], "last")
        events = client.read_events(n + 1, timeout=30)
        self.assertEqual([e.data for e in events[:n]], [str(i) for i in range(n)])


class ReplyModeTest(SidecarTestCase):
    def test_none_gets_no_replies_and_every_event_is_published(self):
        sc = self.start_sidecar({"publish": {"reply_buffer_bytes": "4KiB",
                                             "reply_stall_timeout": "1s"},
                                 "limits": {"subscriber_buffer_bytes": "64MiB"}})
        client = self.stream(sc, ["public.r"])
        n = 20000
        pub = self.publisher(sc)
        data = b'{"replies":"none"}\n' + b"".join(numbered_lines(n))
        writer = BoundedWriter(pub.sock, data, 1 + MARGIN).start()
        self.assertTrue(writer.join(30))
        self.assertFalse(writer.blocked)
        self.assertIsNone(writer.ended_by)
        events = client.read_events(n, timeout=60)
        self.assertEqual([e.data for e in events], [str(i) for i in range(n)])
        pub.shutdown_write()
        self.assertEqual(read_to_eof(pub.sock, 5), b"")
        m = sc.metrics()
        self.assertEqual(m["sse_events_published_total"], n)
        self.assertEqual(m['sse_publisher_paused_total{reason="replies"}'], 0)
        self.assertEqual(m['sse_publisher_closed_total{reason="stalled"}'], 0)
        sc.wait_metric('sse_publisher_closed_total{reason="client"}', lambda v: v == 1)

    def test_errors_mode_gets_only_the_errors_in_order(self):
        sc = self.start_sidecar({"publish": {"max_line_bytes": "1KiB"}})
        client = self.stream(sc, ["public.*"])
        pub = self.publisher(sc)
        lines = [b'{"replies":"errors"}']
        bad = {}
        for i in range(300):
            if i % 10 == 3:
                lines.append(b'{"topic":"bad topic","ref":%d}' % i)
                bad[i] = "topic"
            elif i % 10 == 7:
                lines.append(b'{"topic":"public.e","data":"x","colour":"red","ref":%d}' % i)
                bad[i] = "colour"
            else:
                lines.append(b'{"topic":"public.e","data":"%d","ref":%d}' % (i, i))
        lines.append(b'{"topic":"public.e","data":"' + b"L" * 2000 + b'"}')  # too long
        pub.send_raw(b"\n".join(lines) + b"\n")
        replies = pub.read_replies(len(bad) + 1)
        self.assertEqual([r.get("ref") for r in replies[:-1]], sorted(bad))
        for r in replies[:-1]:
            self.assertIs(r["ok"], False, r)
            self.assertIn(bad[r["ref"]], r["error"])
        self.assertIn("max_line_bytes", replies[-1]["error"])
        good = [str(i) for i in range(300) if i not in bad]
        self.assertEqual([e.data for e in client.read_events(len(good))], good)
        with self.assertRaises(AssertionError):
            pub.read_reply(timeout=0.3)  # nothing for the good lines

        # A control line with a bad value is an error like any other; then "all" is
        # acknowledged, "none" is not, and under "none" even errors get no reply.
        pub.send(b'{"replies":"some"}')
        reply = pub.read_reply()
        self.assertIs(reply["ok"], False, reply)
        self.assertIn('"all", "errors" or "none"', reply["error"])
        pub.send(b'{"replies":"all"}')
        self.assertEqual(pub.read_reply(), {"ok": True, "replies": "all"})
        self.assertEqual(pub.publish("public.e", "all again", ref="a")["ref"], "a")
        pub.send(b'{"replies":"none"}', b'{"topic":"bad topic"}', b'{"topic":"public.e"}',
                 b'{"replies":"all"}')
        self.assertEqual(pub.read_reply(), {"ok": True, "replies": "all"})
        self.assertEqual(sc.metric('sse_ingest_errors_total{kind="invalid"}'),
                         sum(1 for v in bad.values() if v == "topic") + 2)

    def test_default_answers_every_line_in_order(self):
        sc = self.start_sidecar({"publish": {"reply_buffer_bytes": "4KiB",
                                             "reply_stall_timeout": "1s"}})
        pub = self.publisher(sc)
        n = 5000
        lines = []
        for i in range(n):
            if i % 11 == 5:
                lines.append(b'{"topic":"public.d","retry":-1,"ref":%d}\n' % i)
            else:
                lines.append(b'{"topic":"public.d","data":"%d","ref":%d}\n' % (i, i))
        writer = BoundedWriter(pub.sock, b"".join(lines), 30).start()
        replies = pub.read_replies(n, timeout=60)
        self.assertTrue(writer.join(10))
        self.assertEqual([r["ref"] for r in replies], list(range(n)))
        self.assertEqual([r["ok"] for r in replies], [i % 11 != 5 for i in range(n)])
        self.assertIdsIncrease([r["id"] for r in replies if r["ok"]])
        # A control line under the default is acknowledged like any line.
        pub.send(b'{"replies":"all"}')
        self.assertEqual(pub.read_reply(), {"ok": True, "replies": "all"})
        self.assertEqual(sc.metric('sse_publisher_closed_total{reason="stalled"}'), 0)

    def test_socket_replies_sets_the_default_of_connections_that_declare_nothing(self):
        sc = self.start_sidecar({"publish": {"socket_replies": "none"}})
        client = self.stream(sc, ["public.q"])
        quiet = self.publisher(sc)
        quiet.send({"topic": "public.q", "data": "quiet"}, {"topic": "bad topic"})
        self.assertEqual(client.next_event().data, "quiet")
        with self.assertRaises(AssertionError):
            quiet.read_reply(timeout=0.3)
        # A publisher that reads its replies asks for them.
        talker = self.publisher(sc)
        talker.send(b'{"replies":"all"}')
        self.assertEqual(talker.read_reply(), {"ok": True, "replies": "all"})
        self.assertIs(talker.publish("public.q", "talker")["ok"], True)
        self.assertEqual(client.next_event().data, "talker")


class GracefulCloseTest(SidecarTestCase):
    def test_refused_publisher_reads_its_error_line_every_time(self):
        sc = self.start_sidecar({"publish": {"allowed_uids": [other_uid()]}})
        tries = 20
        for attempt in range(tries):
            with self.subTest(attempt=attempt):
                pub = self.track(SocketPublisher(sc.socket_path))
                # It writes first, as a publisher that does not wait for anything would; the
                # sidecar has unread input from it when it refuses.
                try:
                    pub.send_raw(b"".join(numbered_lines(50)))
                except OSError as e:
                    self.fail("the write failed: %r" % e)
                try:
                    data = read_to_eof(pub.sock, 5)
                except ConnectionResetError:
                    self.fail("connection reset before the error line was read")
                lines = data.decode("utf-8").splitlines()
                self.assertEqual(len(lines), 1, lines)
                reply = json.loads(lines[0])
                self.assertIs(reply["ok"], False, reply)
                self.assertIn("uid %d" % os.getuid(), reply["error"])
                pub.close()
        sc.wait_metric('sse_publisher_closed_total{reason="refused"}', lambda v: v == tries)
        self.assertEqual(sc.metric("sse_events_published_total"), 0)

    def test_refused_publisher_that_keeps_writing_is_closed_after_the_linger(self):
        sc = self.start_sidecar({"publish": {"allowed_uids": [other_uid()]}})
        pub = self.track(SocketPublisher(sc.socket_path))
        writer = BoundedWriter(pub.sock, b"".join(numbered_lines(1000)), 10, forever=True).start()
        # Its input is read and dropped for a while (its writes return), then the connection
        # ends however much it still sends.
        self.assertTrue(writer.join(20), "the refused writer was not stopped")
        self.assertFalse(writer.blocked)
        self.assertIsInstance(writer.ended_by, (BrokenPipeError, ConnectionResetError))
        sc.wait_metric('sse_publisher_closed_total{reason="refused"}', lambda v: v == 1)
        self.assertEqual(sc.metric("sse_publisher_connections"), 0)


class EngineBoundTest(RedisTestCase, SidecarTestCase):
    def test_answers_awaited_from_redis_are_bounded(self):
        """While Redis does not answer, a publisher's lines are not read without limit: past
        engine_buffer_bytes of awaited publishes the sidecar pauses it; once Redis answers
        (or the command times out) every line gets its reply, in order."""
        redis = self.start_redis()
        (sc,), _ = self.start_redis_sidecars(
            redis, 1, {"publish": {"engine_buffer_bytes": "4KiB", "reply_stall_timeout": "1s"}},
            command_timeout="3s")
        pub = self.publisher(sc)
        self.assertIs(pub.publish("public.r", "warm")["ok"], True)
        n = 20000
        payload = b"".join(numbered_lines(n))
        redis.pause()
        writer = BoundedWriter(pub.sock, payload, 30).start()
        sc.wait_metric('sse_publisher_paused_total{reason="engine"}', lambda v: v >= 1,
                       timeout=2)
        time.sleep(0.3)
        self.assertTrue(writer.thread.is_alive(),
                        "all %d lines were taken while Redis answered none" % n)
        self.assertLess(writer.sent, len(payload) / 2)
        # No reply yet, and none of its replies is what paused it.
        with self.assertRaises(AssertionError):
            pub.read_reply(timeout=0.2)
        self.assertEqual(sc.metric('sse_publisher_paused_total{reason="replies"}'), 0)
        redis.resume()
        replies = pub.read_replies(n, timeout=60)
        self.assertTrue(writer.join(10))
        self.assertFalse(writer.blocked)
        self.assertEqual([r["ref"] for r in replies], list(range(n)))
        # Lines Redis did not answer within its command timeout were refused as such.
        self.assertLessEqual({r["error"] for r in replies if not r["ok"]}, {"engine unavailable"})
        self.assertEqual(sc.metric('sse_publisher_closed_total{reason="stalled"}'), 0)


if __name__ == "__main__":
    unittest.main()
