"""Credentials and a stand-in application for the access-control integration tests
(standard library plus the `openssl` command line tool).

* JWTs signed with HS256 (hmac), RS256 and ES256 (keys made and used by `openssl`; the ES256
  DER signature is converted to the raw r||s form JWS uses).
* Signed stream URLs (HMAC-SHA256 over "E\\nS\\nA,B", base64url without padding).
* HMAC-signed publish requests (X-Sidecar-Timestamp / X-Sidecar-Signature).
* DelegateApp: a real HTTP server on a loopback port answering the sidecar's delegation calls.
* one_request(): one GET /events (or OPTIONS) whose whole answer is read, for refusals.
"""

import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

from sidecar_harness import SSEClient

# ---------------------------------------------------------------------------------------------
# Encoding


def b64url(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sha256_hex(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def hashed(token):
    """The "sha256:<hex>" form of a token, as the config file may hold it."""
    return "sha256:" + sha256_hex(token)


def qs(value):
    return quote(value, safe=".*:@=-_")


# ---------------------------------------------------------------------------------------------
# JWT


def _segments(header, claims):
    return b64url(json.dumps(header, separators=(",", ":"))) + "." + \
        b64url(json.dumps(claims, separators=(",", ":")))


def jwt_hs256(secret, claims, header=None):
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    head = dict({"alg": "HS256", "typ": "JWT"}, **(header or {}))
    signing_input = _segments(head, claims)
    mac = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + b64url(mac)


def jwt_unsigned(claims, alg="none"):
    """alg "none": header and claims, an empty signature."""
    return _segments({"alg": alg, "typ": "JWT"}, claims) + "."


def openssl(*args, data=None):
    proc = subprocess.run(["openssl"] + list(args), input=data, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=30, check=False)
    if proc.returncode != 0:
        raise AssertionError("openssl %s failed: %s" % (" ".join(args),
                                                        proc.stderr.decode("utf-8", "replace")))
    return proc.stdout


class KeyPairs:
    """An RSA-2048 and a P-256 key pair made with `openssl genpkey` in `directory`."""

    def __init__(self, directory):
        self.dir = directory
        self.rsa_private = os.path.join(directory, "rsa-private.pem")
        self.rsa_public = os.path.join(directory, "rsa-public.pem")
        self.ec_private = os.path.join(directory, "ec-private.pem")
        self.ec_public = os.path.join(directory, "ec-public.pem")
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                "-out", self.rsa_private)
        openssl("pkey", "-in", self.rsa_private, "-pubout", "-out", self.rsa_public)
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", self.ec_private)
        openssl("pkey", "-in", self.ec_private, "-pubout", "-out", self.ec_public)

    def rs256(self, claims, header=None):
        head = dict({"alg": "RS256", "typ": "JWT"}, **(header or {}))
        signing_input = _segments(head, claims)
        signature = openssl("dgst", "-sha256", "-sign", self.rsa_private,
                            data=signing_input.encode("ascii"))
        return signing_input + "." + b64url(signature)

    def es256(self, claims, header=None):
        head = dict({"alg": "ES256", "typ": "JWT"}, **(header or {}))
        signing_input = _segments(head, claims)
        der = openssl("dgst", "-sha256", "-sign", self.ec_private,
                      data=signing_input.encode("ascii"))
        return signing_input + "." + b64url(ecdsa_der_to_raw(der, 32))


def _der_length(data, pos):
    first = data[pos]
    pos += 1
    if first < 0x80:
        return first, pos
    count = first & 0x7F
    return int.from_bytes(data[pos:pos + count], "big"), pos + count


def ecdsa_der_to_raw(der, size):
    """DER SEQUENCE { INTEGER r, INTEGER s } -> r||s, each left-padded to `size` bytes."""
    if der[0] != 0x30:
        raise AssertionError("ECDSA signature is not a DER sequence: %r" % der[:8])
    _, pos = _der_length(der, 1)
    out = b""
    for _ in range(2):
        if der[pos] != 0x02:
            raise AssertionError("ECDSA signature: expected an INTEGER at %d" % pos)
        length, pos = _der_length(der, pos + 1)
        value = der[pos:pos + length].lstrip(b"\x00")
        pos += length
        if len(value) > size:
            raise AssertionError("ECDSA integer longer than %d bytes" % size)
        out += value.rjust(size, b"\x00")
    return out


def claims(sub="user-1", topics=None, lifetime=300, **extra):
    """Typical claims: sub, exp (now + lifetime), iat, and the topics claim when given."""
    now = int(time.time())
    out = {"sub": sub, "iat": now, "exp": now + lifetime}
    if topics is not None:
        out["topics"] = topics
    out.update(extra)
    return out


# ---------------------------------------------------------------------------------------------
# Signed URLs and signed publish requests


def signed_url_signature(secret, expires, subject, topics):
    message = "%s\n%s\n%s" % (expires, subject, ",".join(topics))
    return b64url(hmac.new(secret.encode("utf-8"), message.encode("utf-8"),
                           hashlib.sha256).digest())


def signed_url_query(secret, topics, subject, expires, sign_topics=None, sign_subject=None,
                     sign_expires=None):
    """The query string of a signed stream URL. The sign_* arguments sign different values
    than the URL carries (tampering)."""
    sig = signed_url_signature(secret,
                               sign_expires if sign_expires is not None else expires,
                               sign_subject if sign_subject is not None else subject,
                               sign_topics if sign_topics is not None else topics)
    parts = ["topic=" + qs(t) for t in topics]
    parts += ["subject=" + qs(subject), "expires=%s" % expires, "signature=" + sig]
    return "/events?" + "&".join(parts)


def publish_signature(secret, timestamp, target, body):
    if isinstance(body, str):
        body = body.encode("utf-8")
    message = ("%s\nPOST %s\n" % (timestamp, target)).encode("utf-8") + body
    return "sha256=" + hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signed_publish_headers(secret, target, body, timestamp=None):
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {"X-Sidecar-Timestamp": ts,
            "X-Sidecar-Signature": publish_signature(secret, ts, target, body)}


# ---------------------------------------------------------------------------------------------
# One request on the stream listener


class Answer:
    def __init__(self, client):
        self.status = client.status
        self.headers = client.headers
        self.header_list = client.header_list
        self.body = bytes(client.body).decode("utf-8", "replace")
        self.wire = bytes(client.wire)

    def values(self, name):
        """Every value of header `name` (case-insensitive), in order."""
        return [v for k, v in self.header_list if k.lower() == name.lower()]

    def __repr__(self):
        return "Answer(%s, %r, %r)" % (self.status, self.header_list, self.body)


def one_request(sc, target, headers=None, method="GET", timeout=5.0):
    """Sends one request to the stream listener and reads the head; for anything but a 200
    stream also reads the body to its end. Closes the connection."""
    client = SSEClient(sc.sse_port, timeout=timeout)
    try:
        client.request(method, target, headers=headers)
        client.read_head()
        if client.status != 200:
            client.read_body()
        return Answer(client)
    finally:
        client.close()


def events_target(topics, query=None):
    parts = ["topic=" + qs(t) for t in topics]
    if query:
        parts.append(query)
    return "/events?" + "&".join(parts)


# ---------------------------------------------------------------------------------------------
# The application the sidecar delegates to


class DelegateApp:
    """POST /auth answered like a web application would: the session cookie decides.

    sessions: {cookie value of `session`: (status, json body)}; anything else is 401.
    Every request is recorded (headers, parsed body) before it is answered. With `hold` set,
    a request blocks until release() (or `hold_limit` seconds) before answering.
    """

    def __init__(self, sessions):
        self.sessions = dict(sessions)
        self.requests = []
        self.lock = threading.Lock()
        self.hold = False
        self.hold_limit = 10.0
        self._released = threading.Event()
        self._arrived = threading.Condition(self.lock)
        self._connections = set()
        app = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real app server

            def setup(self):
                super().setup()
                with app.lock:
                    app._connections.add(self.connection)

            def finish(self):
                with app.lock:
                    app._connections.discard(self.connection)
                super().finish()

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw.decode("utf-8"))
                except ValueError:
                    body = raw
                with app.lock:
                    app.requests.append({"path": self.path,
                                         "headers": {k.lower(): v for k, v in
                                                     self.headers.items()},
                                         "body": body})
                    app._arrived.notify_all()
                    hold = app.hold
                if hold:
                    app._released.wait(app.hold_limit)
                status, answer = app.answer(self.headers.get("Cookie", ""))
                data = json.dumps(answer).encode("utf-8")
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the sidecar gave up waiting

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d/auth" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.running = True

    def answer(self, cookie_header):
        session = ""
        for part in cookie_header.split(";"):
            name, _, value = part.strip().partition("=")
            if name == "session":
                session = value
        return self.sessions.get(session, (401, {"reason": "no session"}))

    def count(self):
        with self.lock:
            return len(self.requests)

    def wait_for_requests(self, n, timeout=5.0):
        with self.lock:
            if not self._arrived.wait_for(lambda: len(self.requests) >= n, timeout):
                raise AssertionError("the app received %d requests, expected %d"
                                     % (len(self.requests), n))

    def release(self):
        self._released.set()

    def stop(self):
        """Closes the listening port: later calls are refused by the kernel."""
        if not self.running:
            return
        self.running = False
        self.release()
        self.server.shutdown()
        self.server.server_close()
        # Kept-alive connections die with the app too.
        with self.lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.thread.join(5)


# ---------------------------------------------------------------------------------------------
# Assertions shared by the access tests


class AccessAssertions:
    """Mixin for SidecarTestCase subclasses."""

    def get(self, sc, topics, headers=None, query=None):
        return one_request(sc, events_target(topics, query), headers)

    def assertRefused(self, answer, status, msg=None):
        """A refusal: the status, a short text body, and no stream byte at all."""
        self.assertEqual(answer.status, status, msg or answer)
        self.assertNotIn("event-stream", answer.headers.get("content-type", ""), answer)
        self.assertNotIn(b"retry:", answer.wire, answer)
        self.assertNotIn(b"\r\ndata:", answer.wire, answer)

    def publish(self, sc, topic, data="x"):
        """Publishes over HTTP with the harness's all-topics token; returns the event id."""
        status, _, body = sc.http_publish({"topic": topic, "data": data})
        self.assertEqual(status, 200, body)
        return body["id"]

    def assertReceives(self, sc, client, topic, data=None):
        """Publishes one event to `topic` and checks that `client` gets exactly it next."""
        data = data or "to %s" % topic
        event_id = self.publish(sc, topic, data)
        event = client.next_event()
        self.assertEqual((event.id, event.data), (event_id, data))

    def assertEndsWith(self, client, name, timeout=6.0):
        """Reads until the event `name` arrives, then expects the stream to end right after
        it (chunked terminator, then EOF). Returns the notice."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            event = client.next_event(timeout=max(remaining, 0.01))
            if event.event == name:
                break
            self.assertTrue(event.event != "sidecar.revoked" and event.event != "sidecar.expired",
                            "got %r while waiting for %s" % (event, name))
        client.read_to_eof(timeout=max(deadline - time.monotonic(), 1.0))
        self.assertEqual(client.pending_events(), [], "events after %s" % name)
        if client.chunked:
            self.assertTrue(client.ended_cleanly, "no chunked terminator: %r"
                            % bytes(client.wire[-60:]))
            self.assertEqual(client.extra_after_end, b"")
        self.assertIsNone(event.id_field, "the notice must not carry an id")
        reason = json.loads(event.data).get("reason")
        self.assertTrue(reason, event)
        return event
