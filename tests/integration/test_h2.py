"""HTTP/2 on the TLS stream listener (listen.sse_tls, ALPN h2), against the real binary: curl
and nghttp as clients, Python's h2 (Debian's python3-h2) where a test needs to hold a stream's
window or open streams by hand, and hand-made frames (hyperframe, hpack) for the attacks. The
certificates are test_tls.py's: a CA made here with openssl, a leaf for 127.0.0.1 and
localhost."""

import json
import os
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time

try:
    import h2.config
    import h2.connection
    import h2.events
    import h2.settings
except ImportError:
    # Debian's python3-h2 (and its hpack and hyperframe) live in the system interpreter's
    # dist-packages; an interpreter of another prefix (pyenv, a venv) finds them there.
    sys.path.append("/usr/lib/python3/dist-packages")
    import h2.config
    import h2.connection
    import h2.events
    import h2.settings
import hpack
from hyperframe.frame import (ContinuationFrame, DataFrame, HeadersFrame, PingFrame,
                              RstStreamFrame, SettingsFrame)

from sidecar_harness import DEFAULT_TIMEOUT, TOKEN
from test_tls import LEAF_SERIAL, RENEWED_SERIAL, TlsSSEClient, TlsTestCase, client_context

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
CANCEL = 0x8
REFUSED_STREAM = 0x7
NO_ERROR = 0x0
GOAWAY = 0x7  # frame type
ORIGIN = "https://app.example"
SUBSCRIBER = "alice-h2-token-0123456789abcdef"


def sse_events(data):
    """The events (a dict of their fields) in an SSE byte stream; comments left out."""
    events = []
    for block in data.decode("utf-8", "replace").split("\n\n"):
        fields = {}
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            fields[name] = fields[name] + "\n" + value if name in fields else value
        if "data" in fields:
            events.append(fields)
    return events


class Stream:
    def __init__(self):
        self.status = None
        self.headers = []
        self.data = bytearray()
        self.ended = False
        self.reset = None  # the error code of a RST_STREAM from the server

    def header(self, name):
        return dict(self.headers).get(name)

    def events(self):
        return sse_events(bytes(self.data))


class H2Client:
    """One HTTP/2 connection over TLS, spoken with the h2 library. Received DATA is
    acknowledged (its window reopened) except on the streams in `hold`, whose bytes only
    reopen the connection's window: a tab that stopped reading."""

    def __init__(self, port, certs, settings=None, rcvbuf=None):
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        raw.settimeout(DEFAULT_TIMEOUT)
        try:
            raw.connect(("127.0.0.1", port))
            self.sock = client_context(certs, alpn=("h2",)).wrap_socket(
                raw, server_hostname="localhost")
        except Exception:
            raw.close()
            raise
        config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config=config)
        self.conn.initiate_connection()
        if settings:
            self.conn.update_settings(settings)
        self.streams = {}
        self.hold = set()
        self.goaway = None  # the ConnectionTerminated event
        self.closed = False
        self.flush()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(self, path, headers=(), method="GET", end_stream=True):
        stream_id = self.conn.get_next_available_stream_id()
        self.conn.send_headers(stream_id, [(":method", method), (":scheme", "https"),
                                           (":authority", "localhost"), (":path", path)]
                               + list(headers), end_stream=end_stream)
        self.streams[stream_id] = Stream()
        self.flush()
        return stream_id

    def pump(self, timeout=0.2):
        """Reads what arrives within `timeout` (once) and handles it."""
        if self.closed:
            return
        if not self.sock.pending():
            ready, _, _ = select.select([self.sock], [], [], timeout)
            if not ready:
                return
        try:
            data = self.sock.recv(65536)
        except (ssl.SSLError, OSError):
            data = b""
        if not data:
            self.closed = True
            return
        for event in self.conn.receive_data(data):
            self.handle(event)
        self.flush()

    def handle(self, event):
        stream = self.streams.get(getattr(event, "stream_id", None))
        if isinstance(event, h2.events.ResponseReceived):
            stream.headers = list(event.headers)
            stream.status = int(stream.header(":status"))
        elif isinstance(event, h2.events.DataReceived):
            stream.data += event.data
            size = event.flow_controlled_length
            if event.stream_id in self.hold:
                self.conn.increment_flow_control_window(size) if size else None
            elif size:
                self.conn.acknowledge_received_data(size, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            stream.ended = True
        elif isinstance(event, h2.events.StreamReset):
            if stream:
                stream.reset = event.error_code
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.goaway = event

    def wait(self, predicate, what, timeout=DEFAULT_TIMEOUT):
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError("HTTP/2 client: %s did not happen in %.0fs" % (what, timeout))
            if self.closed:
                raise AssertionError("HTTP/2 client: closed before %s" % what)
            self.pump()

    def open_stream(self, topics, headers=(), query=None):
        path = "/events?" + "&".join("topic=" + t for t in topics) + ("&" + query if query else "")
        sid = self.request(path, headers)
        self.wait(lambda: "retry:" in self.streams[sid].data.decode(), "the opening retry:")
        return sid


class RawH2:
    """A TLS socket that speaks ALPN h2 and sends frames made by hand."""

    def __init__(self, port, certs, rcvbuf=None):
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        raw.settimeout(DEFAULT_TIMEOUT)
        raw.connect(("127.0.0.1", port))
        self.sock = client_context(certs, alpn=("h2",)).wrap_socket(
            raw, server_hostname="localhost")
        self.encoder = hpack.Encoder()
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, *frames):
        self.sock.sendall(b"".join(f if isinstance(f, bytes) else f.serialize() for f in frames))

    def preface(self, settings=None):
        self.send(PREFACE, SettingsFrame(0, settings=settings or {}))

    def head(self, path):
        return self.encoder.encode([(":method", "GET"), (":scheme", "https"),
                                    (":authority", "localhost"), (":path", path)])

    def frames(self, timeout=DEFAULT_TIMEOUT):
        """Frames from the server until it closes, as (type, flags, stream_id, payload)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while len(self.buf) >= 9:
                length = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) < 9 + length:
                    break
                kind, flags = self.buf[3], self.buf[4]
                sid = int.from_bytes(self.buf[5:9], "big") & 0x7fffffff
                payload = self.buf[9:9 + length]
                self.buf = self.buf[9 + length:]
                yield kind, flags, sid, payload
            try:
                self.sock.settimeout(max(0.05, deadline - time.monotonic()))
                data = self.sock.recv(65536)
            except socket.timeout:
                return
            except (ssl.SSLError, OSError):
                data = b""
            if not data:
                return
            self.buf += data

    def goaway_code(self, timeout=DEFAULT_TIMEOUT):
        """The error code of the server's GOAWAY, read until it closes; None without one."""
        code = None
        for kind, _, _, payload in self.frames(timeout):
            if kind == GOAWAY:
                code = int.from_bytes(payload[4:8], "big")
        return code


class H2TestCase(TlsTestCase):

    def client(self, **kw):
        return self.track(H2Client(self.tls_port, self.certs, **kw))

    def raw(self, **kw):
        return self.track(RawH2(self.tls_port, self.certs, **kw))

    def publish(self, sc, topic, data):
        pub = self.publisher(sc)
        pub.send({"topic": topic, "data": data})
        reply = pub.read_reply()
        self.assertTrue(reply["ok"], reply)
        return reply

    def curl(self, path, *args):
        return ["curl", "-sS", "--http2", "--cacert", self.certs.path("ca.pem"), "--resolve",
                "localhost:%d:127.0.0.1" % self.tls_port] + list(args) + [
                    "https://localhost:%d%s" % (self.tls_port, path)]


class Http2StreamingTest(H2TestCase):

    def test_curl_streams_events_over_http2(self):
        sc = self.start_tls()
        proc = subprocess.Popen(
            self.curl("/events?topic=public.curl", "-N", "--max-time", "20", "-w",
                      "\nversion=%{http_version}\n"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(lambda: (proc.kill(), proc.wait(), proc.stdout.close(),
                                 proc.stderr.close()))
        sc.wait_metric('sse_streams_open_by_protocol{protocol="h2"}', lambda v: v == 1)
        m = sc.metrics()
        self.assertEqual(m["sse_h2_connections_open"], 1)
        self.assertEqual(m['sse_connections_open_by_transport{transport="tls"}'], 1)
        self.publish(sc, "public.curl", "over h2")
        got = b""
        deadline = time.monotonic() + DEFAULT_TIMEOUT
        while b"data: over h2\n" not in got and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 0.2)
            if ready:
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                got += chunk
        self.assertIn(b"retry: 3000\n", got)
        self.assertIn(b"data: over h2\n", got)
        status, _, body = sc.admin_request(
            "GET", "/streams", headers={"Authorization": "Bearer " + TOKEN})
        self.assertEqual([s["protocol"] for s in json.loads(body)["streams"]], ["h2"])
        # Its end: curl stops at its time limit, or here, drained; version says it was HTTP/2.
        sc.signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        self.assertIn(b"\nversion=2\n", got + out)
        sc.wait_for_log("proto=h2\n")

    def test_nghttp_receives_the_stream_and_its_events(self):
        sc = self.start_tls()
        proc = subprocess.Popen(
            ["nghttp", "-v", "--timeout=20", "https://127.0.0.1:%d/events?topic=public.ng"
             % self.tls_port], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.addCleanup(lambda: (proc.kill(), proc.wait(), proc.stdout.close()))
        sc.wait_metric('sse_streams_open_by_protocol{protocol="h2"}', lambda v: v == 1)
        self.publish(sc, "public.ng", "via nghttp")
        sc.signal(signal.SIGTERM)  # the stream ends; nghttp exits with it
        out, _ = proc.communicate(timeout=30)
        text = out.decode("utf-8", "replace")
        self.assertIn(":status: 200", text)
        self.assertIn("content-type: text/event-stream; charset=utf-8", text)
        self.assertIn("data: via nghttp", text)
        # The drain ends the stream (its reconnect hint, then END_STREAM). The GOAWAY that
        # follows may cross nghttp's own, sent as it exits after its only stream ended: the
        # drain test below checks the GOAWAY with a client that stays.
        self.assertRegex(text, r"retry: \d+\n\n\[[ 0-9.]+\] recv DATA frame <[^>]*flags=0x01, "
                               r"stream_id=\d+>\n +; END_STREAM")

    def test_twelve_streams_on_one_connection_each_receive_their_topic(self):
        sc = self.start_tls()
        client = self.client()
        ids = [client.open_stream(["public.tab%d" % i]) for i in range(12)]
        m = sc.metrics()
        self.assertEqual(m['sse_streams_open_by_protocol{protocol="h2"}'], 12)
        self.assertEqual(m["sse_h2_connections_open"], 1)
        self.assertEqual(m["sse_connections_open"], 1)  # sockets: one
        for i in range(12):
            self.publish(sc, "public.tab%d" % i, "tab %d" % i)
        for i, sid in enumerate(ids):
            client.wait(lambda s=sid, i=i: any(e["data"] == "tab %d" % i
                                               for e in client.streams[s].events()),
                        "tab %d's event" % i)
            self.assertEqual([e["data"] for e in client.streams[sid].events()], ["tab %d" % i])

    def test_nghttp_opens_twelve_streams_on_one_connection(self):
        sc = self.start_tls()
        uris = ["https://127.0.0.1:%d/events?topic=public.n%d" % (self.tls_port, i)
                for i in range(12)]
        proc = subprocess.Popen(["nghttp", "--timeout=20"] + uris, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        self.addCleanup(lambda: (proc.kill(), proc.wait(), proc.stdout.close()))
        sc.wait_metric('sse_streams_open_by_protocol{protocol="h2"}', lambda v: v == 12)
        self.assertEqual(sc.metric("sse_h2_connections_open"), 1)
        for i in range(12):
            self.publish(sc, "public.n%d" % i, "n%d" % i)
        sc.signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        for i in range(12):
            self.assertIn(b"data: n%d\n" % i, out)

    def test_last_event_id_resumes_over_http2(self):
        sc = self.start_tls()
        first = self.publish(sc, "public.resume", "one")["id"]
        self.publish(sc, "public.resume", "two")
        self.publish(sc, "public.resume", "three")
        client = self.client()
        sid = client.request("/events?topic=public.resume", [("last-event-id", first)])
        client.wait(lambda: len(client.streams[sid].events()) == 2, "the replay")
        self.assertEqual([e["data"] for e in client.streams[sid].events()], ["two", "three"])
        self.publish(sc, "public.resume", "four")
        client.wait(lambda: len(client.streams[sid].events()) == 3, "the live event")

    def test_heartbeats_reach_an_idle_stream(self):
        self.start_tls({"stream": {"heartbeat_interval": "200ms"}})
        client = self.client()
        sid = client.open_stream(["public.quiet"])
        client.wait(lambda: b"\n:\n" in client.streams[sid].data
                    or client.streams[sid].data.count(b":") > 1, "a heartbeat comment")

    def test_a_reload_serves_the_new_certificate_and_open_h2_streams_keep_going(self):
        sc = self.start_tls()
        old = self.client()
        sid = old.open_stream(["public.reload"])
        self.assertEqual("%X" % int(old.sock.getpeercert()["serialNumber"], 16), LEAF_SERIAL)
        shutil.copy(self.certs.renewed[0], self.cert_file)
        shutil.copy(self.certs.renewed[1], self.key_file)
        sc.signal(signal.SIGHUP)
        sc.wait_for_log("TLS certificate reloaded")
        self.publish(sc, "public.reload", "after reload")
        old.wait(lambda: old.streams[sid].events(), "the event after the reload")
        fresh = self.client()
        fresh.open_stream(["public.reload"])
        self.assertEqual("%X" % int(fresh.sock.getpeercert()["serialNumber"], 16),
                         RENEWED_SERIAL)
        self.assertEqual(sc.metric("sse_h2_connections_open"), 2)


class H2cPriorKnowledgeTest(H2TestCase):
    """HTTP/2 with prior knowledge on the plain listener, as a proxy speaking HTTP/2 upstream."""

    def test_curl_with_prior_knowledge_streams_over_the_plain_listener(self):
        sc = self.start_tls()
        proc = subprocess.Popen(
            ["curl", "-sS", "-N", "--http2-prior-knowledge", "--max-time", "20",
             "http://127.0.0.1:%d/events?topic=public.h2c" % sc.sse_port],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(lambda: (proc.kill(), proc.wait(), proc.stdout.close(),
                                 proc.stderr.close()))
        sc.wait_metric('sse_streams_open_by_protocol{protocol="h2c"}', lambda v: v == 1)
        m = sc.metrics()
        self.assertEqual(m["sse_h2_connections_open"], 1)
        self.assertEqual(m['sse_connections_open_by_transport{transport="plain"}'], 1)
        self.publish(sc, "public.h2c", "cleartext h2")
        sc.signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        self.assertIn(b"data: cleartext h2\n", out, err)
        sc.wait_for_log("proto=h2c\n")

    def test_nghttp_opens_streams_and_http1_still_works_on_the_same_listener(self):
        sc = self.start_tls()
        uris = ["http://127.0.0.1:%d/events?topic=public.c%d" % (sc.sse_port, i)
                for i in range(3)]
        proc = subprocess.Popen(["nghttp", "--timeout=20"] + uris, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        self.addCleanup(lambda: (proc.kill(), proc.wait(), proc.stdout.close()))
        sc.wait_metric('sse_streams_open_by_protocol{protocol="h2c"}', lambda v: v == 3)
        plain = self.stream(sc, ["public.c0"])
        self.publish(sc, "public.c0", "both")
        self.assertEqual(plain.next_event().data, "both")
        sc.signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        self.assertIn(b"data: both\n", out)


class Http2AnswersTest(H2TestCase):
    """Refusals, preflight and /sidecar.js answer over HTTP/2 with the status, headers and body
    they have over HTTP/1.1."""

    def h1(self, method, path, headers):
        client = self.track(TlsSSEClient(self.tls_port, client_context(self.certs)))
        client.request(method, path, headers=dict(headers))
        client.read_to_eof()
        fields = sorted((n.lower(), v) for n, v in client.header_list
                        if n.lower() not in ("connection", "transfer-encoding"))
        return client.status, fields, bytes(client.body)

    def h2(self, client, method, path, headers):
        sid = client.request(path, list(headers), method=method)
        client.wait(lambda: client.streams[sid].ended or client.streams[sid].reset is not None,
                    "the end of the answer to %s %s" % (method, path))
        stream = client.streams[sid]
        self.assertIsNone(stream.reset)
        fields = sorted((n, v) for n, v in stream.headers if n != ":status")
        return stream.status, fields, bytes(stream.data)

    def test_refusals_and_preflight_match_http11(self):
        sc = self.start_tls({"cors": {"allow_origins": [ORIGIN]},
                            "access": {"tokens": [{"token": SUBSCRIBER, "subject": "alice",
                                                   "topics": ["private.*"]}]}})
        client = self.client()
        cases = [
            ("403 origin", "GET", "/events?topic=public.a", [("origin", "https://evil.example")]),
            ("401", "GET", "/events?topic=private.a", [("origin", ORIGIN)]),
            ("404", "GET", "/nowhere", []),
            ("400", "GET", "/events", [("origin", ORIGIN)]),
            ("405", "POST", "/events?topic=public.a", []),
            ("preflight", "OPTIONS", "/events?topic=public.a",
             [("origin", ORIGIN), ("access-control-request-method", "GET")]),
            ("script", "GET", "/sidecar.js", []),
        ]
        expected = {"403 origin": 403, "401": 401, "404": 404, "400": 400, "405": 405,
                    "preflight": 204, "script": 200}
        for name, method, path, headers in cases:
            with self.subTest(name):
                over_h1 = self.h1(method, path, headers)
                over_h2 = self.h2(client, method, path, headers)
                self.assertEqual(over_h2[0], expected[name])
                self.assertEqual(over_h2, over_h1)
        # One connection answered them all, and is still there.
        self.assertEqual(sc.metric("sse_h2_connections_open"), 1)
        sid = client.open_stream(["public.after"], [("origin", ORIGIN)])
        self.assertEqual(client.streams[sid].status, 200)

    def test_a_token_opens_a_private_stream_over_h2(self):
        sc = self.start_tls({"access": {"tokens": [{"token": SUBSCRIBER, "subject": "alice",
                                                   "topics": ["private.*"]}]}})
        client = self.client()
        sid = client.open_stream(["private.a"], [("authorization", "Bearer " + SUBSCRIBER)])
        self.publish(sc, "private.a", "secret")
        client.wait(lambda: client.streams[sid].events(), "the private event")
        status, _, body = sc.admin_request(
            "GET", "/streams", headers={"Authorization": "Bearer " + TOKEN})
        self.assertEqual(json.loads(body)["streams"][0]["subject"], "alice")

    def test_a_get_with_a_body_is_refused(self):
        self.start_tls()
        client = self.client()
        sid = client.request("/events?topic=public.body", end_stream=False)
        client.conn.send_data(sid, b"x" * 100, end_stream=True)
        client.flush()
        client.wait(lambda: client.streams[sid].status is not None, "the refusal")
        self.assertEqual(client.streams[sid].status, 400)
        self.assertIn(b"no body", bytes(client.streams[sid].data))
        other = client.open_stream(["public.body"])  # the connection goes on
        self.assertEqual(client.streams[other].status, 200)


class Http2LimitsTest(H2TestCase):

    def test_a_stalled_stream_is_reset_as_slow_while_its_neighbour_keeps_receiving(self):
        sc = self.start_tls({"limits": {"subscriber_buffer_bytes": "8KiB"}})
        # A small window per stream: the held one closes after 4 KiB; the connection's own
        # window is kept open for both.
        client = self.client(settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 4096})
        stalled = client.open_stream(["public.stall"])
        moving = client.open_stream(["public.moving"])
        client.hold.add(stalled)
        payload = "x" * 1000
        for i in range(40):
            self.publish(sc, "public.stall", payload)
            self.publish(sc, "public.moving", "m%d" % i)
            client.pump(0.01)
        client.wait(lambda: client.streams[stalled].reset is not None, "the stalled stream's reset")
        self.assertEqual(client.streams[stalled].reset, CANCEL)
        client.wait(lambda: len(client.streams[moving].events()) == 40, "every moving event")
        m = sc.metrics()
        self.assertEqual(m['sse_h2_stream_resets_total{reason="cancel"}'], 1)
        self.assertEqual(m["sse_slow_consumer_disconnects_total"], 1)
        self.assertEqual(m['sse_streams_open_by_protocol{protocol="h2"}'], 1)
        self.publish(sc, "public.moving", "still")
        client.wait(lambda: client.streams[moving].events()[-1]["data"] == "still",
                    "an event after the reset")
        sc.wait_for_log("reason=slow_consumer proto=h2")

    def test_a_client_that_stops_reading_its_socket_is_slow_on_every_stream(self):
        sc = self.start_tls({"limits": {"subscriber_buffer_bytes": "16KiB"}})
        # Windows so large that flow control never stops the server: only the socket can.
        client = self.client(rcvbuf=4096,
                             settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1})
        client.conn.increment_flow_control_window(2**31 - 1 - 65535)
        client.flush()
        client.open_stream(["public.deaf"])
        client.open_stream(["public.deaf"])
        other = self.client()
        sid = other.open_stream(["public.deaf"])
        # From now on it reads nothing: the socket fills, then its streams' queues.
        pub = self.publisher(sc)
        payload = "y" * 4000
        published = 0
        for _ in range(200):
            for _ in range(10):
                pub.send({"topic": "public.deaf", "data": payload})
            for _ in range(10):
                self.assertTrue(pub.read_reply()["ok"])
            published += 10
            # The reader keeps up, so it is never the slow one.
            other.wait(lambda: len(other.streams[sid].events()) == published, "the events")
            if sc.metric("sse_h2_connections_open") == 1:
                break
        sc.wait_metric("sse_h2_connections_open", lambda v: v == 1)
        m = sc.metrics()
        self.assertEqual(m["sse_slow_consumer_disconnects_total"], 2)
        self.assertEqual(m['sse_h2_stream_resets_total{reason="cancel"}'], 0)  # closed, not reset
        self.publish(sc, "public.deaf", "after")
        other.wait(lambda: other.streams[sid].events()
                   and other.streams[sid].events()[-1]["data"] == "after", "the reader's event")

    def test_h2_max_streams_refuses_the_extra_stream(self):
        sc = self.start_tls({"limits": {"h2_max_streams": 2}})
        raw = self.raw()
        raw.preface()
        # Three requests before the server's SETTINGS could be read: the third is refused.
        raw.send(*[HeadersFrame(sid, data=raw.head("/events?topic=public.max"),
                                flags=["END_HEADERS", "END_STREAM"]) for sid in (1, 3, 5)])
        resets = {}
        statuses = set()
        for kind, flags, sid, payload in raw.frames(timeout=3):
            if kind == 0x3:  # RST_STREAM
                resets[sid] = int.from_bytes(payload, "big")
            if kind == 0x1:
                statuses.add(sid)
            if resets and len(statuses) == 2:
                break
        self.assertEqual(resets, {5: REFUSED_STREAM})
        self.assertEqual(statuses, {1, 3})
        self.assertEqual(sc.metric('sse_h2_stream_resets_total{reason="refused_stream"}'), 1)
        self.assertEqual(sc.metric('sse_streams_open_by_protocol{protocol="h2"}'), 2)

    def test_streams_count_against_the_per_subject_and_per_ip_limits(self):
        sc = self.start_tls({"limits": {"max_connections_per_ip": 2, "max_connections_per_subject": 1},
                            "access": {"tokens": [{"token": SUBSCRIBER, "subject": "alice",
                                                   "topics": ["private.*"]}]}})
        client = self.client()
        client.open_stream(["private.a"], [("authorization", "Bearer " + SUBSCRIBER)])
        sid = client.request("/events?topic=private.b", [("authorization", "Bearer " + SUBSCRIBER)])
        client.wait(lambda: client.streams[sid].ended, "the per-subject refusal")
        self.assertEqual(client.streams[sid].status, 429)
        client.open_stream(["public.ip"])  # two streams from this address: the limit
        sid = client.request("/events?topic=public.ip2")
        client.wait(lambda: client.streams[sid].ended, "the per-IP refusal")
        self.assertEqual(client.streams[sid].status, 429)
        self.assertIn(b"too many open connections from this address",
                      bytes(client.streams[sid].data))
        m = sc.metrics()
        self.assertEqual(m['sse_connections_limited_total{limit="per_subject"}'], 1)
        self.assertEqual(m['sse_connections_limited_total{limit="per_ip"}'], 1)

    def test_drain_ends_each_stream_with_a_hint_then_goaway(self):
        sc = self.start_tls({"stream": {"retry": "700ms"}})
        client = self.client()
        sid = client.open_stream(["public.drain"])
        sc.signal(signal.SIGTERM)
        client.wait(lambda: client.streams[sid].ended, "the stream's end")
        client.wait(lambda: client.goaway is not None or client.closed, "GOAWAY")
        self.assertIsNotNone(client.goaway)
        self.assertEqual(client.goaway.error_code, NO_ERROR)
        # The opening retry, then the drain's reconnect hint, spread from 700 ms.
        retries = [int(line[len("retry: "):]) for line in
                   client.streams[sid].data.decode().split("\n") if line.startswith("retry: ")]
        self.assertEqual(len(retries), 2, client.streams[sid].data)
        self.assertGreaterEqual(retries[1], 700)
        self.assertEqual(sc.wait(timeout=15), 0)
        self.assertIn("reason=drain proto=h2", sc.log())

    def test_an_idle_connection_is_closed_after_the_request_timeout(self):
        sc = self.start_tls({"limits": {"request_timeout": "500ms"}})
        client = self.client()
        client.wait(lambda: client.goaway is not None or client.closed, "GOAWAY", timeout=10)
        self.assertEqual(client.goaway.error_code, NO_ERROR)
        sc.wait_metric("sse_h2_connections_open", lambda v: v == 0)


class Http2AttackTest(H2TestCase):
    """Each attack is answered within its bound, and a second client keeps streaming."""

    def setUp(self):
        self.sc = self.start_tls()
        self.bystander = self.client()
        self.bystander_id = self.bystander.open_stream(["public.bystander"])
        self.sent = 0

    def bystander_still_served(self):
        self.sent += 1
        self.publish(self.sc, "public.bystander", "still %d" % self.sent)
        stream = self.bystander.streams[self.bystander_id]
        self.bystander.wait(lambda: len(stream.events()) == self.sent, "the bystander's event")

    def test_rapid_reset_gets_goaway(self):
        raw = self.raw()
        raw.preface()
        frames = []
        for i in range(1000):
            sid = 1 + 2 * i
            frames.append(HeadersFrame(sid, data=raw.head("/events?topic=public.rr"),
                                       flags=["END_HEADERS", "END_STREAM"]))
            frames.append(RstStreamFrame(sid, error_code=CANCEL))
        try:
            raw.send(*frames)
        except (ssl.SSLError, OSError):
            pass  # closed while we were still sending
        self.assertIsNotNone(raw.goaway_code())
        self.sc.wait_metric("sse_h2_connections_open", lambda v: v == 1)
        self.sc.wait_for_log("ends with GOAWAY")
        self.assertEqual(self.sc.metric('sse_streams_open_by_protocol{protocol="h2"}'), 1)
        self.assertEqual(self.sc.metric('sse_h2_goaways_total{reason="no_error"}'), 0)
        self.bystander_still_served()

    def test_continuation_flood_is_closed(self):
        raw = self.raw()
        raw.preface()
        block = raw.head("/events?topic=public.cf")
        frames = [HeadersFrame(1, data=block[:4])]
        frames += [ContinuationFrame(1, data=b"") for _ in range(50)]
        frames.append(ContinuationFrame(1, data=block[4:], flags=["END_HEADERS"]))
        try:
            raw.send(*frames)
        except (ssl.SSLError, OSError):
            pass
        raw.goaway_code()  # read until it closes
        self.sc.wait_metric("sse_h2_connections_open", lambda v: v == 1)
        self.sc.wait_for_log("Too many CONTINUATION frames")
        self.bystander_still_served()

    def flood(self, frame):
        # A receive buffer so small that the server's acknowledgements fill the socket: they
        # pile up in nghttp2, which closes the connection past its bound.
        raw = self.raw(rcvbuf=2048)
        raw.preface()
        batch = frame.serialize() * 1000
        try:
            for _ in range(200):
                raw.send(batch)
        except (ssl.SSLError, OSError):
            pass  # closed under it: what is expected
        self.sc.wait_metric("sse_h2_connections_open", lambda v: v == 1, timeout=15)
        self.sc.wait_for_log("Flooding was detected")
        self.bystander_still_served()

    def test_settings_flood_is_closed(self):
        self.flood(SettingsFrame(0, settings={h2.settings.SettingCodes.MAX_FRAME_SIZE: 16384}))

    def test_ping_flood_is_closed(self):
        self.flood(PingFrame(0, opaque_data=b"12345678"))

    def test_hpack_bomb_gets_431_and_the_connection_goes_on(self):
        raw = self.raw()
        raw.preface()
        # One 4000-byte field into the client's dynamic table, then referenced over and over:
        # a few hundred bytes on the wire, about 2 MB decoded.
        encoder = raw.encoder
        head = [(":method", "GET"), (":scheme", "https"), (":authority", "localhost"),
                (":path", "/events?topic=public.bomb"), ("x-bomb", "b" * 4000)]
        first = encoder.encode(head)
        again = encoder.encode([("x-bomb", "b" * 4000)]) * 500
        raw.send(HeadersFrame(1, data=first + again, flags=["END_HEADERS", "END_STREAM"]))
        statuses = []
        decoder = hpack.Decoder()
        for kind, flags, sid, payload in raw.frames(timeout=5):
            if kind == 0x1 and sid == 1:
                statuses = [v for n, v in decoder.decode(payload) if n == ":status"]
                break
        self.assertEqual(statuses, ["431"])
        raw.send(HeadersFrame(3, data=raw.head("/events?topic=public.bomb"),
                              flags=["END_HEADERS", "END_STREAM"]))
        for kind, flags, sid, payload in raw.frames(timeout=5):
            if kind == 0x1 and sid == 3:
                statuses = [v for n, v in decoder.decode(payload) if n == ":status"]
                break
        self.assertEqual(statuses, ["200"])
        self.bystander_still_served()

    def test_data_on_a_get_stream_is_refused(self):
        raw = self.raw()
        raw.preface()
        raw.send(HeadersFrame(1, data=raw.head("/events?topic=public.data"),
                              flags=["END_HEADERS"]),
                 DataFrame(1, data=b"z" * 16000), DataFrame(1, data=b"z" * 16000))
        decoder = hpack.Decoder()
        status = None
        for kind, flags, sid, payload in raw.frames(timeout=5):
            if kind == 0x1 and sid == 1:
                status = dict(decoder.decode(payload))[":status"]
                break
        self.assertEqual(status, "400")
        self.bystander_still_served()

    def test_garbage_after_the_handshake_is_closed(self):
        raw = self.raw()
        raw.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        raw.goaway_code()
        self.sc.wait_metric("sse_h2_connections_open", lambda v: v == 1)
        self.sc.wait_for_log("bad client magic")
        self.bystander_still_served()


if __name__ == "__main__":
    import unittest
    unittest.main()
