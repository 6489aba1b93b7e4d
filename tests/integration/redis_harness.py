"""A real Redis for the integration tests of the Redis engine (standard library only).

* RespClient     - a tiny RESP2 client over a plain socket: `command(*args)` returns the parsed
                   reply (str, int, None, list; an error reply raises RespError), `pipeline()`
                   sends several commands in one write.
* RedisServer    - one `redis-server` on a free loopback port with its own temp dir and no
                   config file; start (waits for PING), stop (SIGTERM, then SIGKILL), kill
                   (SIGKILL), pause/resume (SIGSTOP/SIGCONT), restart on the same port keeping
                   the data dir (optionally switching persistence), flushall.
* RedisTestCase  - unittest mixin: `start_redis()` starts a server that is always stopped and
                   removed after the test (its log is printed when the test failed); skips the
                   test only when redis-server is not installed. Mixed with SidecarTestCase it
                   also starts sidecars sharing one Redis (`start_redis_sidecars`).

This module does not need the sidecar binary; the sidecar parts are used through the
SidecarTestCase methods of the class it is mixed into.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

from sidecar_harness import _OwnsSocket, connect_socket

REDIS_SERVER = os.environ.get("REDIS_SERVER") or shutil.which("redis-server") or \
    "/usr/bin/redis-server"


def redis_installed():
    return os.access(REDIS_SERVER, os.X_OK)


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# RESP


class RespError(Exception):
    """An error reply (`-ERR ...`): str(e) is the message without the dash."""


class RespProtocolError(AssertionError):
    """The server sent something that is not RESP, or closed the connection."""


def encode_command(*args):
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode("utf-8")
        elif isinstance(arg, bool):
            raise TypeError("no booleans in Redis commands")
        elif isinstance(arg, (int, float)):
            data = repr(arg).encode("ascii")
        else:
            raise TypeError("cannot send %r to Redis" % (arg,))
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class RespClient(_OwnsSocket):
    """A blocking RESP2 client. Bulk strings are decoded as UTF-8 (`raw=True`: bytes); an error
    reply raises RespError, or is returned as a RespError instance when `errors='return'`."""

    def __init__(self, port, host="127.0.0.1", timeout=2.0, raw=False, unix_path=None,
                 auth=None):
        self.timeout = timeout
        self.raw = raw
        self.sock = connect_socket(unix_path or (host, port), timeout)
        self._buf = bytearray()
        self._pos = 0
        if auth:  # (username, password): Redis 6 ACL
            try:
                self.command("AUTH", *auth)
            except BaseException:
                self.close()
                raise

    def command(self, *args, errors="raise"):
        self.sock.sendall(encode_command(*args))
        return self._reply(errors)

    def pipeline(self, *commands, errors="return"):
        """Sends every command (each a tuple of args) in one write; returns their replies in
        order (error replies as RespError instances unless errors='raise')."""
        self.sock.sendall(b"".join(encode_command(*c) for c in commands))
        return [self._reply(errors) for _ in commands]

    def _reply(self, errors):
        reply = self._read()
        if isinstance(reply, RespError) and errors == "raise":
            raise reply
        return reply

    # -- parsing --

    def _fill(self):
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise RespProtocolError("no reply from Redis within %.1fs" % self.timeout)
        if not data:
            raise RespProtocolError("Redis closed the connection")
        if self._pos > 65536:
            del self._buf[:self._pos]
            self._pos = 0
        self._buf += data

    def _line(self):
        while True:
            end = self._buf.find(b"\r\n", self._pos)
            if end >= 0:
                line = bytes(self._buf[self._pos:end])
                self._pos = end + 2
                return line
            self._fill()

    def _exact(self, n):
        while len(self._buf) - self._pos < n + 2:
            self._fill()
        data = bytes(self._buf[self._pos:self._pos + n])
        if self._buf[self._pos + n:self._pos + n + 2] != b"\r\n":
            raise RespProtocolError("bulk string not followed by CRLF")
        self._pos += n + 2
        return data

    def _text(self, data):
        return data if self.raw else data.decode("utf-8", "surrogateescape")

    def _read(self):
        line = self._line()
        if not line:
            raise RespProtocolError("empty RESP line")
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return self._text(rest)
        if kind == b"-":
            return RespError(rest.decode("utf-8", "replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._text(self._exact(n))
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return None
            # Elements that are errors stay RespError instances inside the list (EXEC).
            return [self._read() for _ in range(n)]
        raise RespProtocolError("unexpected RESP reply %r" % line[:80])

    # -- conveniences --

    def ping(self):
        return self.command("PING")

    def info(self, section=None):
        """INFO [section] as {field: str}."""
        text = self.command("INFO", section) if section else self.command("INFO")
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#") and ":" in line:
                key, _, value = line.partition(":")
                out[key] = value
        return out

    def keys(self, pattern="*"):
        """Every key matching `pattern` (SCAN, so it is safe on a busy server)."""
        cursor, out = "0", []
        while True:
            cursor, batch = self.command("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
            out.extend(batch)
            if cursor == "0":
                return sorted(set(out))


# ---------------------------------------------------------------------------------------------
# The server


class RedisServer:
    """One redis-server process on 127.0.0.1 with its own data dir and log file."""

    def __init__(self, appendonly=False, extra_args=(), tmpdir=None, unix_socket=False,
                 auth=None):
        self.tmpdir = tmpdir or tempfile.mkdtemp(prefix="sse-redis-", dir="/tmp")
        self.data_dir = os.path.join(self.tmpdir, "data")
        os.makedirs(self.data_dir, exist_ok=True)
        self.log_path = os.path.join(self.tmpdir, "redis.log")
        self.appendonly = appendonly
        self.extra_args = list(extra_args)
        # Also listen on a Unix socket in the temp dir (engine address "unix:<path>").
        self.unix_path = os.path.join(self.tmpdir, "redis.sock") if unix_socket else None
        # (username, password) for this harness's own connections, when the default user is
        # off (extra_args such as "--user", "default", "off", "--user", "u", "on", ">pw", ...).
        self.auth = auth
        self.port = None
        self.proc = None
        self.paused = False
        self.returncode = None
        self._log_file = None

    @property
    def address(self):
        """The `engine.redis.address` of this server."""
        return "127.0.0.1:%d" % self.port

    @property
    def unix_address(self):
        return "unix:" + self.unix_path

    def command_line(self):
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--dir", self.data_dir, "--daemonize", "no"]
        if self.appendonly:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        if self.unix_path:
            args += ["--unixsocket", self.unix_path, "--unixsocketperm", "700"]
        return args + self.extra_args

    def start(self, timeout=10.0):
        """Starts the server (on a new free port the first time, on the same port after that)
        and waits until PING answers PONG (not while it is still loading its data)."""
        if not redis_installed():
            raise unittest.SkipTest("redis-server is not installed (looked for %s; set "
                                    "REDIS_SERVER)" % REDIS_SERVER)
        if self.alive():
            raise AssertionError("redis-server is already running")
        fixed_port = self.port is not None
        last_error = None
        for _attempt in range(1 if fixed_port else 3):
            if not fixed_port:
                self.port = _free_port()
            self._log_file = open(self.log_path, "ab")
            self._log_file.write(b"--- start: %s\n" % " ".join(
                repr(a) if a == "" else a for a in self.command_line()).encode())
            self._log_file.flush()
            self.proc = subprocess.Popen(self.command_line(), stdin=subprocess.DEVNULL,
                                         stdout=self._log_file, stderr=self._log_file,
                                         close_fds=True)
            self.paused = False
            try:
                self._wait_ready(timeout)
                return self
            except AssertionError as e:
                last_error = e
                self.kill()
                if "Address already in use" not in self.log():
                    break
        raise AssertionError("redis-server did not start: %s\n--- redis log ---\n%s"
                             % (last_error, self.log()))

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        last = None
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("redis-server exited with %s" % self.proc.returncode)
            try:
                with self.client(timeout=0.5) as c:
                    last = c.command("PING", errors="return")
                    if last == "PONG":
                        return
            except (OSError, RespProtocolError) as e:
                last = e
            if time.monotonic() > deadline:
                raise AssertionError("no PONG within %.1fs (last: %r)" % (timeout, last))
            time.sleep(0.02)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def client(self, timeout=2.0, raw=False):
        return RespClient(self.port, timeout=timeout, raw=raw, auth=self.auth)

    def command(self, *args):
        """One command on a fresh connection (the server must be answering)."""
        with self.client() as c:
            return c.command(*args)

    def info(self, section=None):
        with self.client() as c:
            return c.info(section)

    def flushall(self):
        return self.command("FLUSHALL")

    def pause(self):
        """SIGSTOP: the server keeps its connections but answers nothing."""
        self.proc.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self):
        """SIGCONT after pause()."""
        self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def _finish(self):
        self.returncode = self.proc.wait()
        self.paused = False
        if self._log_file and not self._log_file.closed:
            self._log_file.close()
        return self.returncode

    def kill(self):
        """SIGKILL (a crash: with appendfsync always every acknowledged write is on disk)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
        return self._finish()

    def stop(self, timeout=5.0):
        """SIGTERM (a stopped process is continued first), then SIGKILL after `timeout`."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                if self.paused:
                    self.proc.send_signal(signal.SIGCONT)
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=timeout)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self._finish()

    def restart(self, appendonly=None, crash=False, timeout=10.0):
        """Stops (SIGTERM, or SIGKILL with crash=True) and starts again on the same port with
        the same data dir; `appendonly` switches persistence for the new process."""
        if crash:
            self.kill()
        else:
            self.stop()
        if appendonly is not None:
            self.appendonly = appendonly
        return self.start(timeout)

    def cleanup(self):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


# ---------------------------------------------------------------------------------------------
# Sidecar configuration for the Redis engine


def unique_prefix():
    """A key prefix no other test (or earlier run) uses."""
    return "sse-it-%s:" % uuid.uuid4().hex[:12]


def _merge(base, overrides):
    out = dict(base)
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def redis_engine_overrides(redis, key_prefix, overrides=None, **redis_settings):
    """Sidecar config overrides for `engine.type: redis` on `redis` (a RedisServer or an
    address string), merged under `overrides`. `redis_settings` set engine.redis keys
    (command_timeout="300ms", ...)."""
    address = redis.address if isinstance(redis, RedisServer) else str(redis)
    settings = {
        "address": address,
        "key_prefix": key_prefix,
        "connect_timeout": "1s",
        "command_timeout": "2s",
        "reconnect_backoff": "100ms",
        "max_reconnect_backoff": "500ms",
    }
    settings.update(redis_settings)
    return _merge({"engine": {"type": "redis", "redis": settings}}, overrides)


_SUPPORT = {}

# What a binary without any shared engine says about the `engine` section.
NO_ENGINE_SECTION = "unknown key 'engine'"


def sidecar_redis_support(binary):
    """Whether `binary` has the Redis engine, asked with `--check-config` on a config that sets
    every documented engine.redis key. Returns (True, "") when the config is accepted and
    (False, reason) when the binary knows no `engine` section at all (it predates the
    engine). Any other answer raises AssertionError: the engine exists but refuses the
    documented keys, which is a failure, not a reason to skip."""
    if binary in _SUPPORT:
        return _SUPPORT[binary]
    tmpdir = tempfile.mkdtemp(prefix="sse-probe-", dir="/tmp")
    try:
        path = os.path.join(tmpdir, "config.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write("engine:\n"
                    "  type: redis\n"
                    "  redis:\n"
                    "    address: \"127.0.0.1:6379\"\n"
                    "    key_prefix: \"sse-probe:\"\n"
                    "    username: \"\"\n"
                    "    password_file: \"\"\n"
                    "    connect_timeout: 1s\n"
                    "    command_timeout: 2s\n"
                    "    reconnect_backoff: 100ms\n"
                    "    max_reconnect_backoff: 2s\n")
        proc = subprocess.run([binary, "--check-config", path], stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=20)
        output = (proc.stdout + proc.stderr).decode("utf-8", "replace").strip()
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    if proc.returncode == 0:
        result = (True, "")
    elif proc.returncode == 2 and NO_ENGINE_SECTION in output:
        result = (False, "%s has no Redis engine (--check-config: %s)"
                  % (binary, NO_ENGINE_SECTION))
    else:
        raise AssertionError("--check-config refused the Redis engine config (exit %s): %s"
                             % (proc.returncode, output))
    _SUPPORT[binary] = result
    return result


# ---------------------------------------------------------------------------------------------
# unittest integration


class RedisTestCase(unittest.TestCase):
    """Mixin: `start_redis()` gives a running RedisServer that is stopped and removed after the
    test however it ends. Put it before SidecarTestCase in the bases to also get
    `start_redis_sidecars()`; cleanups run in reverse, so sidecars stop before their Redis."""

    def setUp(self):
        super().setUp()
        if not redis_installed():
            self.skipTest("redis-server is not installed (looked for %s; set REDIS_SERVER)"
                          % REDIS_SERVER)

    def _test_failed(self):
        """Whether this test has failed so far (cleanups run after the test body); the same
        check as SidecarTestCase's, so the mixin also works on its own."""
        outcome = getattr(self, "_outcome", None)
        if outcome is None:
            return True
        for _test, exc_info in getattr(outcome, "errors", []):  # Python < 3.11
            if exc_info is not None:
                return True
        result = getattr(outcome, "result", None)               # Python >= 3.11
        for test, _ in list(getattr(result, "failures", [])) + list(getattr(result, "errors", [])):
            if test is self or getattr(test, "test_case", None) is self:
                return True
        return False

    def start_redis(self, **kw):
        """A started RedisServer(**kw) (appendonly, extra_args, unix_socket, auth)."""
        server = RedisServer(**kw)
        self.addCleanup(self._finish_redis, server)
        server.start()
        return server

    def _finish_redis(self, server):
        try:
            server.stop()
        finally:
            if self._test_failed():
                sys.stderr.write("\n--- redis log (%s, exit %s) ---\n%s--- end of log ---\n"
                                 % (self.id(), server.returncode, server.log()))
            shutil.rmtree(server.tmpdir, ignore_errors=True)

    def start_redis_sidecars(self, redis, n, overrides=None, key_prefix=None, start=True,
                             **redis_settings):
        """Starts `n` sidecars (SidecarTestCase.start_sidecar) on one Redis with one shared key
        prefix (a fresh unique one unless given). Returns (sidecars, key_prefix). Each keeps
        its ports across restarts, so it can be killed and started again as the same node."""
        prefix = key_prefix or unique_prefix()
        config = redis_engine_overrides(redis, prefix, overrides, **redis_settings)
        nodes = []
        for _ in range(n):
            sc = self.start_sidecar(config, start=False)
            sc.keep_ports = True
            if start:
                sc.start()
            nodes.append(sc)
        # Registered after the sidecars, so it runs before they stop: a test that failed while
        # Redis was paused does not leave the sidecars draining against a frozen server.
        self.addCleanup(_continue_if_paused, redis)
        return nodes, prefix


def _continue_if_paused(redis):
    if isinstance(redis, RedisServer) and redis.paused and redis.alive():
        redis.resume()
