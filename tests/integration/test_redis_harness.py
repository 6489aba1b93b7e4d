"""The Redis test harness itself: the RESP client (against canned replies and a real server),
starting, pausing, restarting and stopping redis-server, the cleanup of RedisTestCase, and
the probe that tells whether a sidecar binary has the Redis engine. Needs no sidecar."""

import contextlib
import io
import os
import signal
import socket
import stat
import tempfile
import threading
import time
import unittest

import redis_harness
from redis_harness import (RedisServer, RedisTestCase, RespClient, RespError,
                           RespProtocolError, encode_command, redis_engine_overrides,
                           sidecar_redis_support, unique_prefix)


class FakeServer:
    """A listening socket that answers every connection with canned bytes, in pieces."""

    def __init__(self, reply, piece=3):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.received = b""
        self.thread = threading.Thread(target=self._serve, args=(reply, piece), daemon=True)
        self.thread.start()

    def _serve(self, reply, piece):
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(2)
            self.received = conn.recv(65536)
            for i in range(0, len(reply), piece):  # split so the parser has to reassemble
                conn.sendall(reply[i:i + piece])
                time.sleep(0.001)
            time.sleep(0.2)

    def close(self):
        self.thread.join(3)
        self.sock.close()


class RespParsingTest(unittest.TestCase):
    def _reply(self, data, *command, **kw):
        fake = FakeServer(data)
        try:
            with RespClient(fake.port, timeout=2, **kw) as client:
                return client.command(*(command or ("PING",)), errors="return"), fake
        finally:
            fake.close()

    def test_encodes_commands_as_arrays_of_bulk_strings(self):
        self.assertEqual(encode_command("SET", "k", "v"),
                         b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n")
        self.assertEqual(encode_command("INCRBY", "k", 10, b"\x00\r\n"),
                         b"*4\r\n$6\r\nINCRBY\r\n$1\r\nk\r\n$2\r\n10\r\n$3\r\n\x00\r\n\r\n")
        self.assertEqual(encode_command("SET", "k", "é"),
                         b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n\xc3\xa9\r\n")
        with self.assertRaises(TypeError):
            encode_command("SET", "k", None)

    def test_reply_types(self):
        cases = [
            (b"+OK\r\n", "OK"),
            (b":-42\r\n", -42),
            (b"$5\r\nhe\r\nl\r\n", "he\r\nl"),
            (b"$0\r\n\r\n", ""),
            (b"$-1\r\n", None),
            (b"*-1\r\n", None),
            (b"*0\r\n", []),
            (b"*3\r\n:1\r\n*2\r\n$1\r\na\r\n$-1\r\n+x\r\n", [1, ["a", None], "x"]),
        ]
        for data, expected in cases:
            with self.subTest(data=data):
                reply, fake = self._reply(data, "GET", "k")
                self.assertEqual(reply, expected)
                self.assertEqual(fake.received, encode_command("GET", "k"))

    def test_error_replies(self):
        reply, _ = self._reply(b"-ERR wrong kind\r\n")
        self.assertIsInstance(reply, RespError)
        self.assertEqual(str(reply), "ERR wrong kind")
        # Inside an array (as EXEC answers) an error stays an element.
        reply, _ = self._reply(b"*2\r\n+OK\r\n-WRONGTYPE no\r\n")
        self.assertEqual(reply[0], "OK")
        self.assertIsInstance(reply[1], RespError)
        fake = FakeServer(b"-ERR boom\r\n")
        try:
            with RespClient(fake.port) as client:
                with self.assertRaises(RespError):
                    client.command("PING")
        finally:
            fake.close()

    def test_raw_bulk_strings(self):
        reply, _ = self._reply(b"$3\r\n\xff\x00a\r\n", raw=True)
        self.assertEqual(reply, b"\xff\x00a")

    def test_closed_connection_and_garbage(self):
        for data in (b"+OK", b"?what\r\n", b"$5\r\nabcdeXY"):
            with self.subTest(data=data):
                fake = FakeServer(data)
                try:
                    with RespClient(fake.port, timeout=1) as client:
                        with self.assertRaises(RespProtocolError):
                            client.command("PING")
                finally:
                    fake.close()


class RedisServerTest(RedisTestCase):
    def test_commands_info_and_pipeline(self):
        redis = self.start_redis()
        with redis.client() as c:
            self.assertEqual(c.ping(), "PONG")
            self.assertEqual(c.command("SET", "k", "v"), "OK")
            self.assertEqual(c.command("GET", "k"), "v")
            self.assertIsNone(c.command("GET", "missing"))
            self.assertEqual(c.command("RPUSH", "l", "a", "b", "c"), 3)
            self.assertEqual(c.command("LRANGE", "l", 0, -1), ["a", "b", "c"])
            with self.assertRaises(RespError) as err:
                c.command("INCR", "k")
            self.assertIn("not an integer", str(err.exception))
            replies = c.pipeline(("INCR", "n"), ("INCR", "k"), ("INCRBY", "n", 5))
            self.assertEqual(replies[0], 1)
            self.assertIsInstance(replies[1], RespError)
            self.assertEqual(replies[2], 6)
            info = c.info("server")
            self.assertTrue(info["redis_version"].split(".")[0].isdigit())
            self.assertEqual(int(info["tcp_port"]), redis.port)
            persistence = c.info("persistence")
            self.assertEqual(persistence["aof_enabled"], "0")
            self.assertEqual(c.command("CONFIG", "GET", "save"), ["save", ""])
            self.assertEqual(c.command("CONFIG", "GET", "bind"), ["bind", "127.0.0.1"])
            c.pipeline(*[("SET", "many:%d" % i, i) for i in range(2500)])
            self.assertEqual(len(c.keys("many:*")), 2500)
        self.assertEqual(redis.address, "127.0.0.1:%d" % redis.port)
        self.assertEqual(os.path.dirname(redis.data_dir), redis.tmpdir)

    def test_pause_and_resume(self):
        redis = self.start_redis()
        redis.command("SET", "k", "kept")
        with redis.client(timeout=0.3) as kept:
            redis.pause()
            self.assertTrue(redis.alive())
            with self.assertRaises(RespProtocolError):
                kept.command("PING")
            # A new connection is accepted by the kernel but gets no answer either.
            with redis.client(timeout=0.3) as fresh:
                with self.assertRaises(RespProtocolError):
                    fresh.command("PING")
            redis.resume()
        with redis.client() as c:
            self.assertEqual(c.ping(), "PONG")
            self.assertEqual(c.command("GET", "k"), "kept")

    def test_restart_without_persistence_loses_the_data_on_the_same_port(self):
        redis = self.start_redis()
        port = redis.port
        run_id = redis.info("server")["run_id"]
        redis.command("SET", "k", "v")
        redis.restart()
        self.assertEqual(redis.port, port)
        with redis.client() as c:
            self.assertNotEqual(c.info("server")["run_id"], run_id)
            self.assertEqual(c.command("DBSIZE"), 0)
        redis.command("SET", "k", "v")
        redis.restart(crash=True)
        self.assertEqual(redis.command("DBSIZE"), 0)
        self.assertEqual(os.listdir(redis.data_dir), [], "nothing persisted")

    def test_appendonly_keeps_the_data_across_a_crash(self):
        redis = self.start_redis(appendonly=True)
        with redis.client() as c:
            self.assertEqual(c.info("persistence")["aof_enabled"], "1")
            self.assertEqual(c.command("CONFIG", "GET", "appendfsync"), ["appendfsync", "always"])
            for i in range(100):
                c.command("INCR", "counter")
        redis.restart(crash=True)  # SIGKILL right after the last acknowledged write
        self.assertEqual(redis.command("GET", "counter"), "100")
        # Persistence can be switched off for the next start, with the same dir.
        redis.restart(appendonly=False)
        self.assertEqual(redis.info("persistence")["aof_enabled"], "0")
        self.assertEqual(redis.command("DBSIZE"), 0)

    def test_flushall(self):
        redis = self.start_redis()
        redis.command("SET", "a", "1")
        self.assertEqual(redis.flushall(), "OK")
        self.assertEqual(redis.command("DBSIZE"), 0)

    def test_stop_a_paused_server(self):
        redis = self.start_redis()
        redis.pause()
        start = time.monotonic()
        self.assertEqual(redis.stop(timeout=5), 0)
        self.assertLess(time.monotonic() - start, 4, "SIGTERM waited for the SIGKILL fallback")
        self.assertFalse(redis.alive())
        self.assertFalse(redis.paused)
        redis.start()  # starts again on its port
        self.assertEqual(redis.command("PING"), "PONG")

    def test_kill(self):
        redis = self.start_redis()
        self.assertEqual(redis.kill(), -signal.SIGKILL)
        self.assertFalse(redis.alive())
        with self.assertRaises(OSError):
            redis.client(timeout=0.5)

    def test_unix_socket_and_acl_user(self):
        redis = self.start_redis(
            unix_socket=True, auth=("sidecar", "s3cret"),
            extra_args=["--user", "default", "off",
                        "--user", "sidecar", "on", ">s3cret", "~*", "&*", "+@all"])
        self.assertTrue(redis.unix_address.startswith("unix:/"))
        self.assertTrue(stat.S_ISSOCK(os.stat(redis.unix_path).st_mode))
        with RespClient(None, unix_path=redis.unix_path, auth=("sidecar", "s3cret")) as c:
            self.assertEqual(c.ping(), "PONG")
            self.assertEqual(c.command("ACL", "WHOAMI"), "sidecar")
        with RespClient(redis.port) as anonymous:
            with self.assertRaises(RespError) as err:
                anonymous.command("GET", "k")
            self.assertIn("NOAUTH", str(err.exception))
        with self.assertRaises(RespError):
            RespClient(redis.port, auth=("sidecar", "wrong"))

    def test_start_fails_clearly(self):
        redis = RedisServer(extra_args=["--no-such-option", "1"])
        self.addCleanup(redis.cleanup)
        with self.assertRaises(AssertionError) as err:
            redis.start(timeout=3)
        self.assertIn("no-such-option", str(err.exception))  # the log is in the message
        self.assertFalse(redis.alive())


class RedisTestCaseCleanupTest(unittest.TestCase):
    """RedisTestCase stops and removes its servers however the test ends."""

    def _run(self, body):
        seen = {}

        class Inner(RedisTestCase):
            def runTest(self):
                body(self, seen)

        result = unittest.TestResult()
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            Inner().run(result)
        return result, seen, stderr.getvalue()

    def test_failing_test_stops_its_server_and_prints_its_log(self):
        def body(test, seen):
            redis = test.start_redis()
            seen["redis"] = redis
            test.fail("on purpose")

        result, seen, stderr = self._run(body)
        if result.skipped:
            self.skipTest(result.skipped[0][1])
        self.assertEqual(len(result.failures), 1)
        redis = seen["redis"]
        self.assertFalse(redis.alive())
        self.assertFalse(os.path.exists(redis.tmpdir))
        self.assertIn("--- redis log", stderr)
        self.assertIn("Ready to accept connections", stderr)

    def test_passing_test_stops_a_paused_server_quietly(self):
        def body(test, seen):
            seen["redis"] = test.start_redis(appendonly=True)
            seen["redis"].pause()

        result, seen, stderr = self._run(body)
        if result.skipped:
            self.skipTest(result.skipped[0][1])
        self.assertTrue(result.wasSuccessful(), result.errors + result.failures)
        self.assertFalse(seen["redis"].alive())
        self.assertFalse(os.path.exists(seen["redis"].tmpdir))
        self.assertEqual(stderr, "")

    def test_error_in_the_test_still_cleans_up(self):
        def body(test, seen):
            seen["redis"] = test.start_redis()
            raise RuntimeError("not an assertion")

        result, seen, _ = self._run(body)
        if result.skipped:
            self.skipTest(result.skipped[0][1])
        self.assertEqual(len(result.errors), 1)
        self.assertFalse(seen["redis"].alive())

    def test_skips_only_without_redis_server(self):
        saved = redis_harness.REDIS_SERVER
        redis_harness.REDIS_SERVER = "/nonexistent/redis-server"
        try:
            result, seen, _ = self._run(lambda test, seen: seen.setdefault("ran", True))
        finally:
            redis_harness.REDIS_SERVER = saved
        self.assertEqual(len(result.skipped), 1)
        self.assertIn("redis-server is not installed", result.skipped[0][1])
        self.assertNotIn("ran", seen)


class SidecarConfigTest(unittest.TestCase):
    def test_unique_prefixes(self):
        prefixes = {unique_prefix() for _ in range(200)}
        self.assertEqual(len(prefixes), 200)
        for p in prefixes:
            self.assertTrue(p.startswith("sse-it-") and p.endswith(":"), p)

    def test_engine_overrides(self):
        overrides = {"history": {"max_events": 3}, "engine": {"redis": {"username": "u"}}}
        config = redis_engine_overrides("127.0.0.1:1", "p:", overrides, command_timeout="300ms")
        self.assertEqual(config["history"], {"max_events": 3})
        self.assertEqual(config["engine"]["type"], "redis")
        redis = config["engine"]["redis"]
        self.assertEqual(redis["address"], "127.0.0.1:1")
        self.assertEqual(redis["key_prefix"], "p:")
        self.assertEqual(redis["username"], "u")
        self.assertEqual(redis["command_timeout"], "300ms")
        self.assertEqual(redis["connect_timeout"], "1s")

    def _fake_binary(self, exit_code, message):
        tmpdir = tempfile.mkdtemp(prefix="sse-fake-", dir="/tmp")
        self.addCleanup(lambda: __import__("shutil").rmtree(tmpdir, ignore_errors=True))
        path = os.path.join(tmpdir, "sse-sidecar")
        with open(path, "w") as f:
            f.write("#!/bin/sh\n[ \"$1\" = --check-config ] || exit 9\n"
                    "grep -q 'type: redis' \"$2\" || exit 8\n"
                    "echo \"$2:1:1: %s\" >&2\nexit %d\n" % (message, exit_code))
        os.chmod(path, 0o755)
        return path

    def test_engine_support_probe(self):
        ok = self._fake_binary(0, "")
        self.assertEqual(sidecar_redis_support(ok), (True, ""))
        old = self._fake_binary(2, "unknown key 'engine' (expected one of: listen, workers)")
        supported, reason = sidecar_redis_support(old)
        self.assertFalse(supported)
        self.assertIn("has no Redis engine", reason)
        # An engine that refuses a documented key is a failure, not a skip.
        renamed = self._fake_binary(2, "unknown key 'engine.redis.reconnect_backoff'")
        with self.assertRaises(AssertionError) as err:
            sidecar_redis_support(renamed)
        self.assertIn("reconnect_backoff", str(err.exception))
        crashed = self._fake_binary(134, "Aborted")
        with self.assertRaises(AssertionError):
            sidecar_redis_support(crashed)


if __name__ == "__main__":
    unittest.main()
