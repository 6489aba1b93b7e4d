"""Restarts without losing events: the state file (history and ids kept across a graceful
stop), socket activation (sockets that outlive the process), the service manager protocol
(sd_notify: READY, RELOADING, STOPPING, WATCHDOG), and what happens to a damaged state file."""

import hashlib
import json
import os
import signal
import socket
import shutil
import tempfile
import threading
import time
import unittest

from sidecar_harness import (Deadline, SSEClient, SidecarTestCase, parse_id, wait_until)


def listening_unix(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(128)
    return sock


def listening_tcp():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


class ResumingClient(threading.Thread):
    """Behaves like a browser's EventSource: follows a stream, and whenever it ends or cannot
    be opened, reconnects with Last-Event-ID after a short delay."""

    def __init__(self, port, topic):
        super().__init__(daemon=True)
        self.port = port
        self.topic = topic
        self.received = []  # (id, data) of every event, in arrival order
        self.notices = []   # sidecar.* events
        self.connections = 0
        self.last_id = ""
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()

    def run(self):
        while not self.stop_flag.is_set():
            try:
                client = SSEClient(self.port, timeout=2)
            except OSError:
                time.sleep(0.05)
                continue
            try:
                headers = {"Last-Event-ID": self.last_id} if self.last_id else {}
                client.request("GET", "/events?topic=" + self.topic, headers=headers)
                client.read_head()
                if client.status != 200:
                    time.sleep(0.05)
                    continue
                with self.lock:
                    self.connections += 1
                seen = 0
                while not self.stop_flag.is_set():
                    try:
                        client._recv_once(Deadline(0.2))
                    except (AssertionError, OSError):
                        pass
                    with self.lock:
                        for event in client.events[seen:]:
                            if event.event.startswith("sidecar."):
                                self.notices.append(event)
                            else:
                                self.received.append((event.id, event.data))
                            if event.id:
                                self.last_id = event.id
                    seen = len(client.events)
                    if client.eof or client.complete:
                        break
            except (OSError, AssertionError):
                pass
            finally:
                client.close()
            time.sleep(0.05)

    def data(self):
        with self.lock:
            return [d for _, d in self.received]

    def stop(self):
        self.stop_flag.set()
        self.join(5)


class Publisher(threading.Thread):
    """Publishes numbered events over the Unix socket without pause. A line that got no reply
    before its connection ended is sent again on the next one (it was not published)."""

    def __init__(self, path, topic, count):
        super().__init__(daemon=True)
        self.path = path
        self.topic = topic
        self.count = count
        self.acked = []  # numbers published, in order
        self.reconnects = 0
        self.error = None

    def run(self):
        n = 0
        while n < self.count:
            try:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(10)
                sock.connect(self.path)
            except OSError:
                time.sleep(0.02)
                continue
            buf = b""
            try:
                while n < self.count:
                    line = json.dumps({"topic": self.topic, "data": str(n)}) + "\n"
                    sock.sendall(line.encode())
                    while b"\n" not in buf:
                        chunk = sock.recv(65536)
                        if not chunk:
                            raise ConnectionError("closed")
                        buf += chunk
                    reply, buf = buf.split(b"\n", 1)
                    if not json.loads(reply).get("ok"):
                        self.error = reply
                        return
                    self.acked.append(n)
                    n += 1
                    time.sleep(0.005)
            except (OSError, ConnectionError):
                self.reconnects += 1
            finally:
                sock.close()


class NotifyListener:
    """The service manager's end of sd_notify: a datagram socket collecting messages."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.messages = []

    def collect(self):
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except (socket.timeout, BlockingIOError):
                return self.messages

    def wait_for(self, text, timeout=10):
        wait_until(lambda: any(text in m for m in self.collect()), timeout,
                   message="notification %r (got %r)" % (text, self.messages))

    def close(self):
        self.sock.close()


class StateFileTest(SidecarTestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sse-state-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.state = os.path.join(self.dir, "lib", "state")

    def publish(self, sc, *datas, topic="news.a"):
        pub = sc.publisher()
        try:
            pub.send(*[{"topic": topic, "data": d} for d in datas])
            return [r["id"] for r in pub.read_replies(len(datas))]
        finally:
            pub.close()

    def test_graceful_restart_keeps_history_and_ids(self):
        sc = self.start_sidecar({"state_file": self.state,
                                 "access": {"public_topics": ["news.*"]}}, start=False)
        sc.keep_ports = True
        sc.start()
        ids = self.publish(sc, "one", "two", "three")
        self.publish(sc, "other", topic="news.b")
        self.assertEqual(sc.stop(), 0)
        self.assertIn("saved 4 event(s)", sc.log())
        self.assertTrue(os.path.exists(self.state))

        sc.start()
        self.assertIn("restored 4 event(s)", sc.log())
        self.assertFalse(os.path.exists(self.state), "the state is consumed at start")
        client = self.stream(sc, ["news.a"], headers={"Last-Event-ID": ids[0]})
        self.assertEqual([client.next_event().data for _ in range(2)], ["two", "three"])
        # Ids continue the saved sequence in the same epoch.
        new_id = self.publish(sc, "four")[0]
        self.assertEqual(parse_id(new_id), (parse_id(ids[0])[0], parse_id(ids[2])[1] + 2))
        self.assertEqual(client.next_event().data, "four")

    def test_evicted_events_are_still_reported_missed_after_a_restart(self):
        sc = self.start_sidecar({"state_file": self.state, "history": {"max_events": 2},
                                 "access": {"public_topics": ["news.*"]}}, start=False)
        sc.keep_ports = True
        sc.start()
        ids = self.publish(sc, "1", "2", "3", "4")  # 1 and 2 are evicted
        sc.stop()
        sc.start()
        missed = self.stream(sc, ["news.a"], headers={"Last-Event-ID": ids[0]})
        self.assertEqual(missed.next_event().event, "sidecar.missed")
        exact = self.stream(sc, ["news.a"], headers={"Last-Event-ID": ids[1]})
        self.assertEqual([exact.next_event().data for _ in range(2)], ["3", "4"])

    def test_damaged_or_foreign_state_is_set_aside(self):
        for content, reason in [(b"sse-sidecar-state 1 00\n{}", "checksum"),
                                (b"PK\x03\x04 a zip file", "not an sse-sidecar state file"),
                                (b"sse-sidecar-state 9 00\n{}", "version '9'"),
                                (b"", "not an sse-sidecar state file")]:
            with self.subTest(reason=reason):
                os.makedirs(os.path.dirname(self.state), exist_ok=True)
                with open(self.state, "wb") as f:
                    f.write(content)
                sc = self.start_sidecar({"state_file": self.state})
                self.assertIn(reason, sc.log())
                self.assertFalse(os.path.exists(self.state))
                aside = [n for n in os.listdir(os.path.dirname(self.state))
                         if n.startswith("state.bad-")]
                self.assertEqual(len(aside), 1)
                for name in aside:
                    os.unlink(os.path.join(os.path.dirname(self.state), name))
                # It runs, with a fresh sequence: an old id is reported as missed.
                client = self.stream(sc, ["public.x"], headers={"Last-Event-ID": "1-5"})
                self.assertEqual(client.next_event().event, "sidecar.missed")
                sc.stop()

    def test_a_tampered_event_is_refused(self):
        sc = self.start_sidecar({"state_file": self.state})
        self.publish(sc, "x", topic="public.a")
        sc.stop()
        with open(self.state, "rb") as f:
            header, body = f.read().split(b"\n", 1)
        state = json.loads(body)
        state["events"][0]["frame"] = "id: 1-1\ndata: forged\n\n"
        body = json.dumps(state).encode()
        header = b"sse-sidecar-state 1 " + hashlib.sha256(body).hexdigest().encode()
        with open(self.state, "wb") as f:
            f.write(header + b"\n" + body)
        sc2 = self.start_sidecar({"state_file": self.state})
        self.assertIn("has a frame of another event", sc2.log())

    def test_after_a_crash_old_ids_are_reported_missed(self):
        sc = self.start_sidecar({"state_file": self.state}, start=False)
        sc.keep_ports = True
        sc.start()
        first = self.publish(sc, "a", topic="public.a")[0]
        sc.stop()
        sc.start()  # restores, and removes the file
        self.publish(sc, "b", topic="public.a")
        sc.kill()   # no graceful stop: nothing saved
        sc.start()
        self.assertIn("no state file", sc.log())
        client = self.stream(sc, ["public.a"], headers={"Last-Event-ID": first})
        self.assertEqual(client.next_event().event, "sidecar.missed")

    def test_a_failed_start_keeps_the_state_file(self):
        sc = self.start_sidecar({"state_file": self.state}, start=False)
        sc.keep_ports = True
        sc.start()
        first = self.publish(sc, "kept", topic="public.a")[0]
        sc.stop()
        # The stream port is taken: this start fails after reading the state file.
        blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        blocker.bind(("127.0.0.1", sc.sse_port))
        blocker.listen(1)
        try:
            with self.assertRaises(AssertionError):
                sc.start(timeout=3)
        finally:
            blocker.close()
        self.assertIn("cannot listen", sc.log())
        self.assertTrue(os.path.exists(self.state), "the state survives a failed start")
        sc.start()
        client = self.stream(sc, ["public.a"], headers={"Last-Event-ID": first})
        new_id = self.publish(sc, "after", topic="public.a")[0]
        self.assertEqual(client.next_event().data, "after")
        self.assertEqual(parse_id(new_id)[0], parse_id(first)[0])

    def test_unwritable_state_file_fails_the_exit_status(self):
        blocker = os.path.join(self.dir, "file")
        open(blocker, "w").close()
        sc = self.start_sidecar({"state_file": os.path.join(blocker, "state")})
        self.publish(sc, "x", topic="public.a")
        self.assertEqual(sc.stop(), 1)
        self.assertIn("state not saved", sc.log())


class SocketActivationTest(SidecarTestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sse-activation-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def test_restart_under_load_loses_and_repeats_nothing(self):
        publish_path = os.path.join(self.dir, "run", "publish.sock")
        publish_sock = listening_unix(publish_path)
        sse_sock = listening_tcp()
        self.addCleanup(publish_sock.close)
        self.addCleanup(sse_sock.close)
        sse_port = sse_sock.getsockname()[1]

        sc = self.start_sidecar({"state_file": os.path.join(self.dir, "state"),
                                 "stream": {"retry": "200ms"},
                                 "publish": {"socket": publish_path}}, start=False)
        sc.keep_ports = True
        sc.inherit = [("publish", publish_sock), ("sse", sse_sock)]
        sc.start()
        self.assertIn("using the publish socket passed by the service manager", sc.log())
        self.assertIn("using the sse socket passed by the service manager", sc.log())

        clients = [ResumingClient(sse_port, "public.feed") for _ in range(5)]
        for c in clients:
            c.start()
            self.addCleanup(c.stop)
        wait_until(lambda: all(c.connections == 1 for c in clients), message="clients connected")
        publisher = Publisher(publish_path, "public.feed", count=600)
        publisher.start()

        wait_until(lambda: len(publisher.acked) >= 150, timeout=20, message="events before")
        self.assertEqual(sc.stop(), 0)
        # Nothing is listening now; publishers and browsers queue on the kept sockets.
        time.sleep(0.3)
        self.assertTrue(os.path.exists(publish_path), "the socket file outlives the process")
        sc.start()
        publisher.join(60)
        self.assertFalse(publisher.is_alive(), "publisher finished")
        self.assertIsNone(publisher.error)
        self.assertEqual(publisher.acked, list(range(600)))
        self.assertGreaterEqual(publisher.reconnects, 1)

        expected = [str(n) for n in range(600)]
        for c in clients:
            wait_until(lambda c=c: len(c.data()) >= 600, timeout=20,
                       message="client got all events (has %d)" % len(c.data()))
        time.sleep(0.3)  # anything extra (a duplicate) would arrive now
        for c in clients:
            self.assertEqual(c.data(), expected)
            self.assertEqual(c.notices, [])  # no sidecar.missed
            self.assertGreaterEqual(c.connections, 2)
        self.assertIn("restored", sc.log())

    def test_unknown_inherited_socket_is_reported(self):
        extra = listening_tcp()
        self.addCleanup(extra.close)
        sc = self.start_sidecar(start=False)
        sc.inherit = [("mystery", extra)]
        sc.start()
        self.assertIn("ignoring inherited socket", sc.log())


class ServiceManagerTest(SidecarTestCase):
    def test_notifications_and_watchdog(self):
        directory = tempfile.mkdtemp(prefix="sse-notify-")
        self.addCleanup(shutil.rmtree, directory, True)
        listener = NotifyListener(directory)
        self.addCleanup(listener.close)
        sc = self.start_sidecar(start=False)
        sc.env = {"NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "200000"}
        sc.start()
        listener.wait_for("READY=1")
        listener.wait_for("WATCHDOG=1")
        pings = sum("WATCHDOG=1" in m for m in listener.collect())
        time.sleep(0.5)
        self.assertGreater(sum("WATCHDOG=1" in m for m in listener.collect()), pings)

        sc.signal(signal.SIGHUP)
        listener.wait_for("RELOADING=1")
        reloading = next(m for m in listener.messages if "RELOADING=1" in m)
        self.assertRegex(reloading, r"MONOTONIC_USEC=\d+")
        after = listener.messages.index(reloading)
        wait_until(lambda: any("READY=1" in m for m in listener.collect()[after + 1:]),
                   message="READY=1 after the reload")

        sc.signal(signal.SIGTERM)
        listener.wait_for("STOPPING=1")
        self.assertEqual(sc.wait(10), 0)


if __name__ == "__main__":
    unittest.main()
