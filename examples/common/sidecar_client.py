"""Talking to sse-sidecar from an application: publishing over the Unix socket, and the admin
listener's presence query.

    publisher = Publisher("/run/sse-sidecar/publish.sock")
    reply = publisher.publish("chat.lobby", {"text": "hi"}, event="message")
    reply["subscribers"]   # open streams that got the event

One persistent connection, shared by every thread behind a lock: each line written is
followed by reading its reply line, so replies never interleave. A connection that broke
(the sidecar restarted) is replaced once, transparently.
"""

import json
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request


class SidecarUnavailable(Exception):
    """The sidecar could not be reached (not running, socket missing, no reply)."""


class PublishRefused(Exception):
    """The sidecar answered {"ok":false,"error":...}: the event was not published."""


class Publisher:
    def __init__(self, socket_path, timeout=5.0):
        self.socket_path = socket_path
        self.timeout = timeout
        self._lock = threading.Lock()
        self._sock = None
        self._pending = b""
        self._ref = 0

    def publish(self, topic, data, event=None, retry=None):
        """Publishes one event to `topic` (a string, or a list of topics for one event on
        several). Returns the reply: {"ok":true,"id":...,"subscribers":N,"ref":...}."""
        message = {"topics": list(topic)} if isinstance(topic, (list, tuple)) else {"topic": topic}
        if event:
            message["event"] = event
        message["data"] = data
        if retry is not None:
            message["retry"] = int(retry)
        with self._lock:
            self._ref += 1
            message["ref"] = self._ref
            line = (json.dumps(message, separators=(",", ":")) + "\n").encode("utf-8")
            reply = self._exchange(line)
        if reply.get("ref") != message["ref"]:
            raise SidecarUnavailable("reply out of step with the request: %r" % reply)
        if not reply.get("ok"):
            raise PublishRefused(reply.get("error") or "refused")
        return reply

    def close(self):
        with self._lock:
            self._drop()

    # -- under the lock -----------------------------------------------------------------------

    def _exchange(self, line):
        # A connection kept from before may have died with a restarted sidecar; that only shows
        # when it is used, so one failure on a reused connection is retried on a fresh one.
        reused = self._sock is not None
        try:
            return self._send_and_read(line)
        except (OSError, ValueError) as e:
            self._drop()
            if not reused:
                raise SidecarUnavailable("publish socket %s: %s" % (self.socket_path, e)) from e
        try:
            return self._send_and_read(line)
        except (OSError, ValueError) as e:
            self._drop()
            raise SidecarUnavailable("publish socket %s: %s" % (self.socket_path, e)) from e

    def _send_and_read(self, line):
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(self.socket_path)
            except OSError:
                sock.close()
                raise
            self._sock = sock
            self._pending = b""
        self._sock.sendall(line)
        while b"\n" not in self._pending:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("the sidecar closed the connection")
            self._pending += chunk
        reply, _, self._pending = self._pending.partition(b"\n")
        return json.loads(reply.decode("utf-8"))

    def _drop(self):
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        self._sock = None
        self._pending = b""


class Admin:
    """The admin listener (http://127.0.0.1:7701): presence queries."""

    def __init__(self, base_url, token="", timeout=3.0):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def presence(self, topic):
        """The sorted subjects with a stream open on `topic`."""
        url = "%s/presence?topic=%s" % (self.base_url, urllib.parse.quote(topic, safe=".*:@=-_"))
        request = urllib.request.Request(url)
        if self.token:
            request.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            reason = e.read().decode("utf-8", "replace").strip()
            raise SidecarUnavailable("GET /presence: %d %s" % (e.code, reason)) from e
        except (OSError, ValueError) as e:
            raise SidecarUnavailable("GET /presence: %s" % e) from e
        subjects = body.get("subjects")
        if not isinstance(subjects, list):
            raise SidecarUnavailable("GET /presence: unexpected answer %r" % body)
        return subjects
