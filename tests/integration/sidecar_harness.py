"""Shared helpers for the sse-sidecar integration tests (standard library only).

* Sidecar            - starts the real binary with a temporary YAML config on free loopback
                       ports, waits for /readyz, stops it (SIGTERM, then SIGKILL), keeps its
                       stderr in a file.
* SSEClient          - an HTTP/1.x + Server-Sent Events client over a plain socket: parses the
                       status line and headers, de-chunks Transfer-Encoding: chunked, and parses
                       the event stream by the WHATWG rules. Every read has a deadline.
* SocketPublisher    - NDJSON publisher on the Unix socket.
* SidecarTestCase    - unittest base class: starts sidecars that are always stopped, and prints
                       their log when a test fails.
"""

import codecs
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
from urllib.parse import quote

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
SIDECAR_BIN = os.environ.get("SIDECAR_BIN") or os.path.normpath(
    os.path.join(HERE, "..", "..", "build", "sse-sidecar"))
EXAMPLE_CONFIG = os.path.join(REPO_ROOT, "config.example.yaml")
# Every test runs the daemon: without it the suite fails (rather than passing with every test
# skipped).
if not os.access(SIDECAR_BIN, os.X_OK):
    raise ImportError("no sse-sidecar binary at %s: build it (scripts/build) or set SIDECAR_BIN"
                      % SIDECAR_BIN)

TOKEN = "test-publisher-token-0123456789"
ID_RE = re.compile(r"^(\d+)-(\d+)$")

DEFAULT_TIMEOUT = 5.0


class Deadline:
    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def remaining(self):
        return self.end - time.monotonic()

    def expired(self):
        return self.remaining() <= 0


def wait_until(predicate, timeout=DEFAULT_TIMEOUT, interval=0.02, message="condition"):
    """Polls `predicate` until it returns a truthy value; returns it or raises AssertionError."""
    deadline = Deadline(timeout)
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if deadline.expired():
            raise AssertionError("timed out after %.1fs waiting for %s (last: %r)"
                                 % (timeout, message, last))
        time.sleep(interval)


def parse_id(event_id):
    """'<epoch>-<seq>' -> (epoch, seq); raises AssertionError when it does not look like one."""
    m = ID_RE.match(event_id or "")
    if not m:
        raise AssertionError("event id %r does not look like <epoch>-<seq>" % (event_id,))
    return int(m.group(1)), int(m.group(2))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# YAML config


def _yaml_scalar(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (dict, list, tuple)):
        # A list item that is a mapping or a list ({token: ..., topics: [...]}): JSON is valid
        # YAML flow syntax.
        return json.dumps(value)
    # A JSON string is a valid YAML double-quoted scalar.
    return json.dumps(str(value))


def to_yaml(value, indent=0):
    pad = "  " * indent
    lines = []
    for key, item in value.items():
        if isinstance(item, dict):
            lines.append("%s%s:" % (pad, key))
            lines.append(to_yaml(item, indent + 1))
        elif isinstance(item, (list, tuple)):
            lines.append("%s%s: [%s]" % (pad, key, ", ".join(_yaml_scalar(v) for v in item)))
        else:
            lines.append("%s%s: %s" % (pad, key, _yaml_scalar(item)))
    return "\n".join(line for line in lines if line)


DELETE = object()  # an override value that removes the key from the config


def deep_merge(base, overrides):
    out = dict(base)
    for key, value in (overrides or {}).items():
        if value is DELETE:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


# ---------------------------------------------------------------------------------------------
# The daemon


class Sidecar:
    """One sse-sidecar process with its own temp dir, config file, ports and publish socket."""

    def __init__(self, overrides=None):
        self.tmpdir = tempfile.mkdtemp(prefix="sse-it-", dir="/tmp")
        self.config_path = os.path.join(self.tmpdir, "config.yaml")
        self.log_path = os.path.join(self.tmpdir, "stderr.log")
        self.socket_path = os.path.join(self.tmpdir, "run", "publish.sock")
        self.overrides = overrides or {}
        self.proc = None
        self.returncode = None
        self._log_file = None
        self.sse_port = None
        self.admin_port = None
        self.config = None
        self.keep_ports = False  # restart on the same ports (the first start picks them)
        self.env = None          # extra environment variables for the daemon
        # Listening sockets handed over as socket activation would: [(name, socket)].
        self.inherit = None

    # -- config --

    def build_config(self, overrides=None):
        base = {
            "listen": {
                "sse": "127.0.0.1:%d" % self.sse_port,
                "admin": "127.0.0.1:%d" % self.admin_port,
                "backlog": 128,
            },
            "workers": 2,
            "publish": {
                "socket": self.socket_path,
                "socket_mode": "0600",
                "tokens": [TOKEN],
            },
            "access": {"public_topics": ["public.*"]},
            "cors": {"allow_origins": ["*"]},
            "log": {"level": "info", "format": "text"},
            "drain_timeout": "2s",
        }
        return deep_merge(base, self.overrides if overrides is None else overrides)

    def write_config(self, overrides=None, raw_text=None):
        """Writes the config file (from overrides, or verbatim text); returns the text."""
        text = raw_text if raw_text is not None else to_yaml(self.build_config(overrides)) + "\n"
        tmp = self.config_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, self.config_path)
        return text

    # -- process --

    def start(self, timeout=10.0):
        if not os.path.exists(SIDECAR_BIN):
            raise AssertionError("sse-sidecar binary not found at %s (set SIDECAR_BIN)"
                                 % SIDECAR_BIN)
        last_error = None
        for _attempt in range(3):
            if not (self.keep_ports and self.sse_port):
                self.sse_port, self.admin_port = free_port(), free_port()
                while self.admin_port == self.sse_port:
                    self.admin_port = free_port()
            self.config = self.build_config()
            self.write_config()
            self._log_file = open(self.log_path, "ab")
            command = [SIDECAR_BIN, "--config", self.config_path]
            env = dict(os.environ, **(self.env or {}))
            pass_fds = ()
            preexec = None
            if self.inherit:
                # As systemd does: the sockets become fds 3, 4, ... and LISTEN_PID names the
                # daemon itself, which only a shell that execs it can know.
                command = ["sh", "-c", 'LISTEN_PID=$$ exec "$0" "$@"'] + command
                env["LISTEN_FDS"] = str(len(self.inherit))
                env["LISTEN_FDNAMES"] = ":".join(name for name, _ in self.inherit)
                sources = [sock.fileno() for _, sock in self.inherit]
                pass_fds = tuple(range(3, 3 + len(sources)))

                def preexec():
                    # Through fresh copies first, so a source already at 3.. is not clobbered.
                    copies = [os.dup(fd) for fd in sources]
                    for target, fd in zip(pass_fds, copies):
                        os.dup2(fd, target)
            self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=self._log_file,
                                         stderr=self._log_file, close_fds=True, env=env,
                                         pass_fds=pass_fds, preexec_fn=preexec)
            try:
                self._wait_ready(timeout)
                return self
            except AssertionError as e:
                last_error = e
                if self.proc.poll() is None:
                    self.kill()
                self.returncode = self.proc.wait()
                self._log_file.close()
                # Retry only when the ports were taken between probing and binding.
                if "cannot listen" not in self.log():
                    break
        raise AssertionError("sidecar did not start: %s\n--- sidecar log ---\n%s"
                             % (last_error, self.log()))

    def _wait_ready(self, timeout):
        deadline = Deadline(timeout)
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("sidecar exited with %s" % self.proc.returncode)
            try:
                status, _, _ = self.admin_request("GET", "/readyz", timeout=0.5)
                if status == 200:
                    return
            except OSError:
                pass
            if deadline.expired():
                raise AssertionError("/readyz not 200 within %.1fs" % timeout)
            time.sleep(0.02)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        """Waits for exit; returns the exit code or None on timeout."""
        try:
            self.returncode = self.proc.wait(timeout=timeout)
            return self.returncode
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
        if self.proc:
            self.returncode = self.proc.wait()
        if self._log_file and not self._log_file.closed:
            self._log_file.close()

    def stop(self, timeout=8.0):
        """SIGTERM, then SIGKILL after `timeout`. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            if self.wait(timeout) is None:
                self.kill()
        self.returncode = self.proc.wait()
        if self._log_file and not self._log_file.closed:
            self._log_file.close()
        return self.returncode

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_for_log(self, text, timeout=DEFAULT_TIMEOUT, start=0):
        return wait_until(lambda: text in self.log()[start:], timeout,
                          message="log line containing %r" % text)

    # -- clients --

    def admin_request(self, method, path, body=None, headers=None, timeout=DEFAULT_TIMEOUT):
        """One request on the admin listener: (status, headers {lower: value}, body bytes)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=timeout)
        try:
            if isinstance(body, str):
                body = body.encode("utf-8")
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    def http_publish(self, body, path="/publish", token=TOKEN, headers=None,
                     timeout=DEFAULT_TIMEOUT):
        """POST to the admin listener. `body` may be a dict/list (sent as JSON), str or bytes.
        Returns (status, headers, parsed JSON body or raw bytes when not JSON)."""
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = "Bearer " + token
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        status, rh, data = self.admin_request("POST", path, body=body, headers=h,
                                              timeout=timeout)
        try:
            parsed = json.loads(data.decode("utf-8"))
        except ValueError:
            parsed = data
        return status, rh, parsed

    def metrics(self):
        status, _, body = self.admin_request("GET", "/metrics")
        if status != 200:
            raise AssertionError("/metrics answered %d" % status)
        return parse_metrics(body.decode("utf-8"))

    def metric(self, key):
        return self.metrics().get(key)

    def wait_metric(self, key, predicate, timeout=DEFAULT_TIMEOUT):
        def check():
            value = self.metric(key)
            return value is not None and predicate(value)
        wait_until(check, timeout, message="metric %s (now %r)" % (key, self.metric(key)))
        return self.metric(key)

    def publisher(self, timeout=DEFAULT_TIMEOUT):
        return SocketPublisher(self.socket_path, timeout)

    def stream(self, topics=(), query=None, headers=None, http_version="1.1", rcvbuf=None,
               timeout=DEFAULT_TIMEOUT, expect_status=200, path="/events"):
        """Opens GET /events for `topics` and reads the response head; for 200 also waits for
        the opening `retry:` so the stream is subscribed when this returns."""
        parts = ["topic=" + _qs(t) for t in topics]
        if query:
            parts.append(query)
        target = path + ("?" + "&".join(parts) if parts else "")
        client = SSEClient(self.sse_port, timeout=timeout, rcvbuf=rcvbuf)
        client.request("GET", target, headers=headers, http_version=http_version)
        client.read_head()
        if expect_status is not None and client.status != expect_status:
            body = client.read_body()
            client.close()
            raise AssertionError("GET %s: expected %s, got %s %r"
                                 % (target, expect_status, client.status, body))
        if client.status == 200:
            client.wait_for(lambda: client.retry is not None, timeout, "the opening retry:")
        return client

    def raw_request(self, data, timeout=DEFAULT_TIMEOUT, port=None):
        """Sends raw bytes to the stream listener, reads the whole (closing) response."""
        client = SSEClient(port or self.sse_port, timeout=timeout)
        try:
            client.send(data)
            client.read_head()
            client.read_body()
            client.read_to_eof()
        finally:
            client.close()
        return client


def _qs(value):
    return quote(value, safe=".*:@=-_")


def parse_metrics(text):
    """Prometheus text -> {'name' or 'name{labels}': number}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        out[key] = float(value) if "." in value else int(value)
    return out


# ---------------------------------------------------------------------------------------------
# Stream client


class _OwnsSocket:
    """Closes `self.sock` on close() and at the end of a `with` block."""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class SSEEvent:
    __slots__ = ("event", "data", "id", "id_field", "retry")

    def __init__(self, event, data, last_id, id_field, retry):
        self.event = event        # event type ("message" when no event: field)
        self.data = data
        self.id = last_id         # the last event ID buffer when dispatched (WHATWG)
        self.id_field = id_field  # the id: field of this block, None when it had none
        self.retry = retry        # retry: value seen in this block, None when none

    def __repr__(self):
        return "SSEEvent(event=%r, id=%r, data=%r)" % (
            self.event, self.id, self.data if len(self.data) < 80 else self.data[:77] + "...")


class SSEClient(_OwnsSocket):
    """HTTP/1.x client that reads an event stream (or a plain error response) over a socket."""

    _LINE_RE = re.compile(r"\r\n|\r|\n")

    def __init__(self, port, host="127.0.0.1", timeout=DEFAULT_TIMEOUT, rcvbuf=None):
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect((host, port))
        except OSError:
            self.sock.close()
            raise
        self.wire = bytearray()      # every byte received, as received
        self._pending = bytearray()  # received, not yet consumed by the head/body parser
        self.status = None
        self.reason = None
        self.version = None
        self.header_list = []
        self.headers = {}
        self.head_done = False
        self.chunked = False
        self.content_length = None
        self.body = bytearray()      # de-chunked body bytes
        self.eof = False             # the server closed the connection
        self.reset = False           # ... with an error (RST)
        self.ended_cleanly = False   # the chunked terminator (0-size chunk) arrived
        self.complete = False        # body complete (terminator, Content-Length or EOF)
        # chunk decoder
        self._chunk_buf = bytearray()
        self._chunk_state = "size"   # size, data, crlf, trailer
        self._chunk_left = 0
        self.extra_after_end = b""   # bytes after the chunked terminator (should be none)
        # SSE parser (WHATWG)
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._text = ""
        self._bom_checked = False
        self._data = []
        self._event_type = ""
        self._last_id = ""
        self._block_id = None
        self._block_retry = None
        self.retry = None
        self.comments = []
        self.events = []
        self._consumed = 0

    # -- sending --

    def request(self, method, target, headers=None, http_version="1.1", host=True):
        lines = ["%s %s HTTP/%s" % (method, target, http_version)]
        if host:
            lines.append("Host: 127.0.0.1")
        for name, value in (headers or {}).items():
            lines.append("%s: %s" % (name, value))
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"))

    def send(self, data):
        self.sock.sendall(data)


    # -- receiving --

    def _recv_once(self, deadline):
        """One recv with the deadline; False on timeout. Feeds the parsers."""
        if self.eof:
            return False
        remaining = deadline.remaining()
        if remaining <= 0:
            return False
        self.sock.settimeout(max(remaining, 0.001))
        try:
            data = self.sock.recv(262144)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            data = b""
            self.reset = True
        if not data:
            self.eof = True
            self._on_eof()
            return True
        self.wire += data
        self._pending += data
        self._process()
        return True

    def _process(self):
        if not self.head_done:
            end = self._pending.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self._pending[:end]).decode("latin-1")
            del self._pending[:end + 4]
            self._parse_head(head)
        if self._pending:
            data = bytes(self._pending)
            self._pending.clear()
            self._feed_body(data)

    def _parse_head(self, head):
        lines = head.split("\r\n")
        version, status, *reason = lines[0].split(" ", 2)
        self.version = version
        self.status = int(status)
        self.reason = reason[0] if reason else ""
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.header_list.append((name.strip(), value.strip()))
            self.headers[name.strip().lower()] = value.strip()
        self.head_done = True
        self.chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        if "content-length" in self.headers:
            self.content_length = int(self.headers["content-length"])
            if self.content_length == 0:
                self.complete = True
        if self.status in (204, 304):
            self.complete = True

    def _feed_body(self, data):
        if self.complete:
            return
        if not self.chunked:
            if self.content_length is not None:
                data = data[:self.content_length - len(self.body)]
            self._on_body(data)
            if self.content_length is not None and len(self.body) >= self.content_length:
                self.complete = True
            return
        buf = self._chunk_buf
        buf += data
        pos = 0
        out = []
        while pos < len(buf) and not self.complete:
            if self._chunk_state == "size":
                nl = buf.find(b"\r\n", pos)
                if nl < 0:
                    break
                size_text = bytes(buf[pos:nl]).decode("latin-1").split(";")[0].strip()
                pos = nl + 2
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise AssertionError("bad chunk size line %r" % size_text)
                if size == 0:
                    self._chunk_state = "trailer"
                else:
                    self._chunk_left = size
                    self._chunk_state = "data"
            elif self._chunk_state == "data":
                take = min(self._chunk_left, len(buf) - pos)
                out.append(bytes(buf[pos:pos + take]))
                pos += take
                self._chunk_left -= take
                if self._chunk_left == 0:
                    self._chunk_state = "crlf"
            elif self._chunk_state == "crlf":
                if len(buf) - pos < 2:
                    break
                if bytes(buf[pos:pos + 2]) != b"\r\n":
                    raise AssertionError("chunk data not followed by CRLF: %r"
                                         % bytes(buf[pos:pos + 20]))
                pos += 2
                self._chunk_state = "size"
            elif self._chunk_state == "trailer":
                nl = buf.find(b"\r\n", pos)
                if nl < 0:
                    break
                line = bytes(buf[pos:nl])
                pos = nl + 2
                if line == b"":  # end of the (empty) trailer section
                    self.ended_cleanly = True
                    self.complete = True
        del buf[:pos]
        if out:
            self._on_body(b"".join(out))
        if self.complete and buf:
            self.extra_after_end = bytes(buf)

    def _on_eof(self):
        if self.head_done and not self.chunked:
            self.complete = True
        # Flush a CR held back at the end of the text.
        self._text += self._decoder.decode(b"", final=True)
        if self._text.endswith("\r"):
            self._parse_lines(final=True)

    def _on_body(self, data):
        self.body += data
        if self.status == 200 and "event-stream" in self.headers.get("content-type", ""):
            self._text += self._decoder.decode(data)
            self._parse_lines()

    def _parse_lines(self, final=False):
        text = self._text
        if not self._bom_checked and text:
            if text.startswith("\ufeff"):
                text = text[1:]
            self._bom_checked = True
        pos = 0
        for m in self._LINE_RE.finditer(text):
            # A CR at the very end may be the first half of CRLF: wait for more.
            if m.group() == "\r" and m.end() == len(text) and not final:
                break
            self._line(text[pos:m.start()])
            pos = m.end()
        self._text = text[pos:]

    def _line(self, line):
        if line == "":
            self._dispatch()
            return
        if line.startswith(":"):
            self.comments.append(line[1:])
            return
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event_type = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            if "\0" not in value:
                self._last_id = value
                self._block_id = value
        elif name == "retry":
            if value.isdigit() and value.isascii():
                self.retry = int(value)
                self._block_retry = int(value)
        # other fields are ignored

    def _dispatch(self):
        block_id, block_retry = self._block_id, self._block_retry
        self._block_id = self._block_retry = None
        if not self._data:
            self._event_type = ""
            return
        data = "\n".join(self._data)
        self.events.append(SSEEvent(self._event_type or "message", data, self._last_id,
                                    block_id, block_retry))
        self._data = []
        self._event_type = ""

    # -- high-level reads --

    def wait_for(self, predicate, timeout=None, what="condition"):
        deadline = Deadline(self.timeout if timeout is None else timeout)
        while not predicate():
            if self.eof or deadline.expired():
                if predicate():
                    break
                raise AssertionError(
                    "stream: %s while waiting for %s (status=%s, %d events, last wire bytes %r)"
                    % ("connection closed" if self.eof else "timed out", what, self.status,
                       len(self.events), bytes(self.wire[-200:])))
            self._recv_once(deadline)

    def read_head(self, timeout=None):
        self.wait_for(lambda: self.head_done, timeout, "the response head")
        return self.status

    def read_body(self, timeout=None):
        """Reads until the body is complete (Content-Length, terminator or EOF)."""
        self.read_head(timeout)
        self.wait_for(lambda: self.complete or self.eof, timeout, "the end of the body")
        return bytes(self.body)

    def read_to_eof(self, timeout=None):
        """Reads until the server closes the connection."""
        deadline = Deadline(self.timeout if timeout is None else timeout)
        while not self.eof:
            if deadline.expired():
                raise AssertionError("stream not closed within the timeout (last bytes %r)"
                                     % bytes(self.wire[-200:]))
            self._recv_once(deadline)
        return bytes(self.body)

    def next_event(self, timeout=None):
        self.wait_for(lambda: len(self.events) > self._consumed, timeout,
                      "event #%d" % (self._consumed + 1))
        event = self.events[self._consumed]
        self._consumed += 1
        return event

    def read_events(self, n, timeout=None):
        deadline = Deadline(self.timeout if timeout is None else timeout)
        target = self._consumed + n
        self.wait_for(lambda: len(self.events) >= target, max(deadline.remaining(), 0),
                      "%d events (have %d new)" % (n, len(self.events) - self._consumed))
        out = self.events[self._consumed:target]
        self._consumed = target
        return out

    def collect(self, n, timeout=None):
        """Waits up to `timeout` for `n` new events without failing; returns (and consumes)
        the new events received by then, so a caller can compare lists."""
        deadline = Deadline(self.timeout if timeout is None else timeout)
        while len(self.events) - self._consumed < n and not self.eof and not deadline.expired():
            self._recv_once(deadline)
        out = self.events[self._consumed:]
        self._consumed = len(self.events)
        return out

    def pending_events(self):
        """Events received but not consumed yet (reads nothing new)."""
        return self.events[self._consumed:]

    def assert_no_event(self, seconds=0.3):
        """Reads for `seconds` and fails if any unconsumed event shows up."""
        deadline = Deadline(seconds)
        while not deadline.expired() and not self.eof:
            self._recv_once(deadline)
        extra = self.events[self._consumed:]
        if extra:
            raise AssertionError("unexpected events: %r" % (extra,))

    def drain_available(self, seconds=0.2):
        """Reads whatever arrives within `seconds`."""
        deadline = Deadline(seconds)
        while not deadline.expired() and not self.eof:
            self._recv_once(deadline)


# ---------------------------------------------------------------------------------------------
# Socket publisher


def connect_socket(target, timeout):
    """A socket connected to `target` (a Unix socket path, or a (host, port) pair) with
    `timeout` on every operation; closed again when the connection fails."""
    family = socket.AF_UNIX if isinstance(target, str) else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(target)
    except OSError:
        sock.close()
        raise
    return sock


class SocketPublisher(_OwnsSocket):
    def __init__(self, path, timeout=DEFAULT_TIMEOUT):
        self.timeout = timeout
        self.sock = connect_socket(path, timeout)
        self._buf = bytearray()
        self._pos = 0
        self.eof = False

    @staticmethod
    def encode(message):
        if isinstance(message, bytes):
            return message
        if isinstance(message, str):
            return message.encode("utf-8")
        return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def send_raw(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode("utf-8"))

    def send(self, *messages):
        """Sends each message (dict, str or bytes) as one line, all in one write."""
        self.send_raw(b"".join(self.encode(m) + b"\n" for m in messages))

    def read_line(self, timeout=None):
        deadline = Deadline(self.timeout if timeout is None else timeout)
        while True:
            nl = self._buf.find(b"\n", self._pos)
            if nl >= 0:
                line = bytes(self._buf[self._pos:nl])
                self._pos = nl + 1
                if self._pos > 65536:
                    del self._buf[:self._pos]
                    self._pos = 0
                return line.decode("utf-8")
            if self.eof:
                raise AssertionError("publisher connection closed (buffered %r)"
                                     % bytes(self._buf[self._pos:]))
            remaining = deadline.remaining()
            if remaining <= 0:
                raise AssertionError("timed out waiting for a reply line")
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(262144)
            except socket.timeout:
                continue
            if not data:
                self.eof = True
            self._buf += data

    def read_reply(self, timeout=None):
        return json.loads(self.read_line(timeout))

    def read_replies(self, n, timeout=None):
        deadline = Deadline(self.timeout if timeout is None else timeout)
        return [self.read_reply(max(deadline.remaining(), 0.001)) for _ in range(n)]

    def publish(self, topic=None, data="", **fields):
        """Publishes one event and returns its reply; asserts nothing."""
        message = dict(fields)
        if topic is not None:
            message["topic"] = topic
        if data is not None:
            message["data"] = data
        self.send(message)
        return self.read_reply()

    def publish_ok(self, topic=None, data="", **fields):
        reply = self.publish(topic, data, **fields)
        if reply.get("ok") is not True:
            raise AssertionError("publish refused: %r" % (reply,))
        return reply

    def assert_open(self, timeout=0.2):
        """Fails when the sidecar closed this publisher connection."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536, socket.MSG_PEEK)
            if data == b"":
                raise AssertionError("publisher connection was closed by the sidecar")
        except socket.timeout:
            pass

    def shutdown_write(self):
        self.sock.shutdown(socket.SHUT_WR)



# ---------------------------------------------------------------------------------------------
# unittest integration


class SidecarTestCase(unittest.TestCase):
    """Base class: `start_sidecar()` starts a daemon that is stopped after the test, however it
    ends; its log is printed when the test failed. Clients made with `track()` are closed."""

    maxDiff = 4000

    def start_sidecar(self, overrides=None, start=True):
        sc = Sidecar(overrides)
        self.addCleanup(self._finish_sidecar, sc)
        if start:
            sc.start()
        return sc

    def track(self, closeable):
        self.addCleanup(closeable.close)
        return closeable

    def stream(self, sc, topics=(), **kw):
        return self.track(sc.stream(topics, **kw))

    def publisher(self, sc):
        return self.track(sc.publisher())

    def _test_failed(self):
        """Whether this test has failed so far (cleanups run after the test body)."""
        outcome = getattr(self, "_outcome", None)
        if outcome is None:
            return True
        # Python < 3.11 collects errors on the outcome until the test is over.
        for _test, exc_info in getattr(outcome, "errors", []):
            if exc_info is not None:
                return True
        # Python >= 3.11 reports them to the result at once.
        result = getattr(outcome, "result", None)
        for test, _ in list(getattr(result, "failures", [])) + list(getattr(result, "errors", [])):
            if test is self or getattr(test, "test_case", None) is self:
                return True
        return False

    # What AddressSanitizer, LeakSanitizer and UndefinedBehaviorSanitizer print when the
    # sidecar runs from a sanitizer build: any of them fails the test that ran it.
    SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")

    def _finish_sidecar(self, sc):
        report = None
        try:
            sc.stop()
            log = sc.log()
            report = next((m for m in self.SANITIZER_MARKERS if m in log), None)
        finally:
            if report or self._test_failed():
                sys.stderr.write("\n--- sidecar log (%s, exit %s) ---\n%s--- end of log ---\n"
                                 % (self.id(), sc.returncode, sc.log()))
            shutil.rmtree(sc.tmpdir, ignore_errors=True)
        if report:
            raise AssertionError("sanitizer report in the sidecar's log: %s" % report)

    # -- assertions shared by several files --

    def assertIdsIncrease(self, ids):
        parsed = [parse_id(i) for i in ids]
        for n, (a, b) in enumerate(zip(parsed, parsed[1:])):
            if a[0] != b[0] or a[1] >= b[1]:
                self.fail("ids do not strictly increase within one epoch at #%d: %r then %r"
                          % (n, ids[n], ids[n + 1]))

    def assertOneLineBody(self, client):
        body = bytes(client.body).decode("utf-8")
        self.assertTrue(body.endswith("\n"), "body %r is not one line" % body)
        self.assertEqual(body.count("\n"), 1, "body %r is not one line" % body)
        self.assertTrue(body.strip(), "body is empty")
        self.assertIn("text/plain", client.headers.get("content-type", ""))
        return body.strip()
