"""`sse-sidecar publish`: the publish command against the real daemon over its real socket. One
event from the command line reaches a stream; NDJSON lines from standard input are pipelined,
each reply printed; exit codes 0, 1 and 2; what it says when the socket is missing, the
connection is refused or lost; and a closed standard output."""

import fcntl
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import termios
import time
import unittest

from sidecar_harness import SIDECAR_BIN, Deadline, SidecarTestCase, wait_until

PUBLISHED = "sse_events_published_total"
# Resident memory is not checked under the sanitizers' allocator.
SANITIZED = os.environ.get("SIDECAR_SANITIZED", "").upper() in ("1", "ON", "TRUE", "YES")
TIMEOUT = 120  # only so that a hang fails the test instead of holding the suite


def other_uid():
    uid = 12345
    while uid in (os.getuid(), os.geteuid()):
        uid += 1
    return uid


def ndjson(messages):
    return "".join(json.dumps(m, separators=(",", ":")) + "\n" for m in messages).encode()


class PublishCommandTest(SidecarTestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sse-it-publish-", dir="/tmp")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def write(self, name, data):
        with open(self.path(name), "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)
        return self.path(name)

    def run_publish(self, *args, input=b"", socket_path=None):
        """Runs `sse-sidecar publish` to the end: (exit code, stdout, stderr) as text."""
        command = [SIDECAR_BIN, "publish"]
        if socket_path:
            command += ["--socket", socket_path]
        result = subprocess.run(command + list(args), input=input, capture_output=True,
                                timeout=TIMEOUT)
        return (result.returncode, result.stdout.decode("utf-8", "replace"),
                result.stderr.decode("utf-8", "replace"))

    def start_publish(self, *args, stdin=subprocess.PIPE, stdout=subprocess.PIPE):
        proc = subprocess.Popen([SIDECAR_BIN, "publish", *args], stdin=stdin, stdout=stdout,
                                stderr=subprocess.PIPE)

        def finish():
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for f in (proc.stdin, proc.stdout, proc.stderr):
                if f:
                    f.close()
        self.addCleanup(finish)
        return proc

    def replies(self, stdout):
        return [json.loads(line) for line in stdout.splitlines()]

    # -- one event from the command line --

    def test_one_event_reaches_a_stream_with_its_name_and_data(self):
        sc = self.start_sidecar()
        client = self.stream(sc, ["public.cmd"])
        data = 'line one\nsays "two" \\ and é'
        code, out, err = self.run_publish("public.cmd", "--event", "update", "--data", data,
                                          "--retry", "4000", socket_path=sc.socket_path)
        self.assertEqual(code, 0, err)
        self.assertEqual(err, "")
        (reply,) = self.replies(out)
        self.assertIs(reply["ok"], True, reply)
        self.assertEqual(reply["subscribers"], 1)
        event = client.next_event()
        self.assertEqual(event.id, reply["id"])
        self.assertEqual(event.event, "update")
        self.assertEqual(event.data, data)
        self.assertEqual(event.retry, 4000)

    def test_several_topics_get_one_event(self):
        sc = self.start_sidecar()
        on_a = self.stream(sc, ["public.a"])
        on_b = self.stream(sc, ["public.b"])
        on_both = self.stream(sc, ["public.a", "public.b"])
        code, out, err = self.run_publish("public.a", "--topic", "public.b", "--json",
                                          '{"n": [1, 2]}', socket_path=sc.socket_path)
        self.assertEqual(code, 0, err)
        (reply,) = self.replies(out)
        self.assertEqual(reply["subscribers"], 3)
        for client in (on_a, on_b, on_both):
            event = client.next_event()
            self.assertEqual((event.id, event.data), (reply["id"], '{"n":[1,2]}'))
        on_both.assert_no_event(0.2)

    def test_data_from_a_file_and_from_standard_input(self):
        sc = self.start_sidecar()
        client = self.stream(sc, ["public.files"])
        payload = "first\nsecond {\"not\": json}\n"
        code, _, err = self.run_publish("public.files", "--data-file",
                                        self.write("payload.txt", payload),
                                        socket_path=sc.socket_path)
        self.assertEqual(code, 0, err)
        # The file as it is, its last LF included (an empty last data line).
        self.assertEqual(client.next_event().data, payload)
        code, _, err = self.run_publish("public.files", "--data-file", "-",
                                        input=b"from stdin", socket_path=sc.socket_path)
        self.assertEqual(code, 0, err)
        self.assertEqual(client.next_event().data, "from stdin")

    def test_a_refused_event_exits_1_with_the_reply(self):
        sc = self.start_sidecar()
        code, out, err = self.run_publish("public.x", "--event", "sidecar.fake", "--data", "x",
                                          socket_path=sc.socket_path)
        self.assertEqual(code, 1, err)
        (reply,) = self.replies(out)
        self.assertIs(reply["ok"], False)
        self.assertIn("reserved", reply["error"])

    def test_the_socket_is_found_through_the_config(self):
        sc = self.start_sidecar()
        client = self.stream(sc, ["public.conf"])
        code, out, err = self.run_publish("--config", sc.config_path, "public.conf", "--data",
                                          "via config")
        self.assertEqual(code, 0, err)
        self.assertEqual(client.next_event().id, self.replies(out)[0]["id"])
        # With a socket the sidecar's default says gives no reply, every line still gets one.
        sc2 = self.start_sidecar({"publish": {"socket_replies": "none"}})
        code, out, err = self.run_publish("public.conf", "--data", "x",
                                          socket_path=sc2.socket_path)
        self.assertEqual(code, 0, err)
        self.assertIs(self.replies(out)[0]["ok"], True)

    def test_a_config_that_cannot_be_used_says_to_pass_socket(self):
        bad = self.write("bad.yaml", "workers: many\n")
        code, out, err = self.run_publish("--config", bad, "public.x", "--data", "x")
        self.assertEqual(code, 2)
        self.assertEqual(out, "")
        self.assertIn(bad + ":1:", err)
        self.assertIn("pass --socket", err)
        missing = self.path("missing.yaml")
        code, _, err = self.run_publish("--config", missing, "public.x", "--data", "x")
        self.assertEqual(code, 2)
        self.assertIn(missing + ": cannot read file", err)
        self.assertIn("pass --socket", err)
        off = self.write("off.yaml", 'publish:\n  socket: ""\n')
        code, _, err = self.run_publish("--config", off, "public.x", "--data", "x")
        self.assertEqual(code, 2)
        self.assertIn("publish.socket is empty", err)
        self.assertIn("pass --socket", err)

    # -- NDJSON from standard input --

    def test_20k_lines_from_standard_input_are_all_answered(self):
        # With the smallest reply buffer the sidecar pauses reading it again and again.
        sc = self.start_sidecar({"publish": {"reply_buffer_bytes": 4096}})
        lines = []
        for i in range(20000):
            lines.append(json.dumps({"topic": "public.bulk.%d" % (i % 7), "data": "n%d" % i,
                                     "ref": i}))
            if i % 5000 == 0:
                lines += ["", "  \t", "\r"]  # blank lines: skipped, as the sidecar skips them
        data = ("\n".join(lines)).encode()  # the last line has no LF
        code, out, err = self.run_publish(input=data, socket_path=sc.socket_path)
        self.assertEqual(code, 0, err[-2000:])
        replies = self.replies(out)
        self.assertEqual(len(replies), 20000)
        self.assertEqual([r.get("ref") for r in replies], list(range(20000)))
        self.assertTrue(all(r["ok"] is True for r in replies))
        self.assertIdsIncrease([r["id"] for r in replies])
        self.assertEqual(sc.wait_metric(PUBLISHED, lambda v: v >= 20000), 20000)

    def test_input_waits_while_the_sidecar_does_not_answer(self):
        sc = self.start_sidecar()
        proc = self.start_publish("--socket", sc.socket_path, stdout=subprocess.DEVNULL)
        wait_until(lambda: sc.metric("sse_publisher_connections") == 1,
                   message="the command's connection")
        sc.signal(signal.SIGSTOP)
        self.addCleanup(lambda: sc.alive() and sc.signal(signal.SIGCONT))
        line = json.dumps({"topic": "public.wait", "data": "x" * 40}).encode() + b"\n"
        chunk = line * 1000
        total = 200  # chunks: 10 MB
        os.set_blocking(proc.stdin.fileno(), False)
        written = 0
        idle = Deadline(1.0)
        # Fed until the command takes no more: with every line awaiting a reply it must stop
        # reading, not take its whole input into memory.
        while written < total * len(chunk) and not idle.expired():
            try:
                n = os.write(proc.stdin.fileno(), chunk[written % len(chunk):])
            except BlockingIOError:
                time.sleep(0.02)
                continue
            written += n
            idle = Deadline(1.0)
        self.assertLess(written, 4 * 1024 * 1024, "input taken while nothing was answered")
        if not SANITIZED:
            with open("/proc/%d/status" % proc.pid) as f:
                rss_kib = int(next(l for l in f if l.startswith("VmRSS:")).split()[1])
            self.assertLess(rss_kib, 64 * 1024)
        # Answered again, it takes and publishes the rest.
        sc.signal(signal.SIGCONT)
        os.set_blocking(proc.stdin.fileno(), True)
        while written < total * len(chunk):
            written += os.write(proc.stdin.fileno(), chunk[written % len(chunk):])
        _, err = proc.communicate(timeout=TIMEOUT)
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(sc.wait_metric(PUBLISHED, lambda v: v >= total * 1000), total * 1000)

    def test_a_sidecar_that_answers_nothing_is_given_up_on_after_the_reply_timeout(self):
        """A stopped sidecar keeps its connections but answers nothing: the command gives up
        after --reply-timeout rather than hold a cron job for ever."""
        sc = self.start_sidecar()
        sc.signal(signal.SIGSTOP)
        self.addCleanup(lambda: sc.alive() and sc.signal(signal.SIGCONT))
        code, out, err = self.run_publish("public.stuck", "--data", "x", "--reply-timeout", "1s",
                                          socket_path=sc.socket_path)
        self.assertEqual(code, 2, err)
        self.assertEqual(out, "")
        self.assertIn("no reply from the sidecar for", err)
        self.assertIn("(--reply-timeout): giving up", err)
        self.assertIn("gave up on %s before the event was answered" % sc.socket_path, err)
        # NDJSON: the lines sent are owed, counted as for a lost connection.
        lines = b"".join(json.dumps({"topic": "public.stuck", "data": str(i)}).encode() + b"\n"
                         for i in range(5))
        code, _, err = self.run_publish("--reply-timeout", "500ms", input=lines,
                                        socket_path=sc.socket_path)
        self.assertEqual(code, 2, err)
        self.assertIn("gave up on %s with 5 lines unanswered" % sc.socket_path, err)

    def test_an_output_nobody_reads_for_a_while_does_not_get_it_closed(self):
        # The sidecar closes a publisher that reads none of its replies for the stall timeout
        # while they pass its reply buffer. The command keeps so few lines unanswered that
        # the replies wait in it, not in the sidecar, while its own output is not read.
        sc = self.start_sidecar({"publish": {"reply_stall_timeout": "500ms"}})
        source = self.write("bulk.ndjson", ndjson(
            {"topic": "public.stall", "data": str(i)} for i in range(60000)))
        with open(source, "rb") as stdin:
            proc = self.start_publish("--socket", sc.socket_path, stdin=stdin)
            time.sleep(2)
            out, err = proc.communicate(timeout=TIMEOUT)
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(len(out.splitlines()), 60000)
        self.assertEqual(sc.metric('sse_publisher_closed_total{reason="stalled"}'), 0)

    def test_a_bad_line_in_the_middle_exits_1_and_the_rest_is_published(self):
        sc = self.start_sidecar()
        client = self.stream(sc, ["public.mid"])
        lines = [json.dumps({"topic": "public.mid", "data": str(i)}) for i in range(1000)]
        lines[400] = '{"topic":"public.mid","dta":"typo"}'
        lines[700] = '{"topic": not json'
        code, out, err = self.run_publish(input=("\n".join(lines) + "\n").encode(),
                                          socket_path=sc.socket_path)
        self.assertEqual(code, 1, err)
        replies = self.replies(out)
        self.assertEqual(len(replies), 1000)
        refused = [i for i, r in enumerate(replies) if r["ok"] is not True]
        self.assertEqual(refused, [400, 700])
        self.assertIn("unknown field 'dta'", replies[400]["error"])
        self.assertIn("invalid JSON", replies[700]["error"])
        events = client.read_events(998, timeout=60)
        self.assertEqual([e.data for e in events],
                         [str(i) for i in range(1000) if i not in (400, 700)])

    def test_quiet_prints_only_refused_replies(self):
        sc = self.start_sidecar()
        lines = [json.dumps({"topic": "public.q", "data": str(i), "ref": i}) for i in range(50)]
        lines[30] = json.dumps({"topic": "bad topic", "ref": 30})
        code, out, err = self.run_publish("--quiet", input=("\n".join(lines) + "\n").encode(),
                                          socket_path=sc.socket_path)
        self.assertEqual(code, 1, err)
        (reply,) = self.replies(out)
        self.assertEqual((reply["ok"], reply["ref"]), (False, 30))
        self.assertIn("invalid topic", reply["error"])
        code, out, err = self.run_publish("-q", input=ndjson([{"topic": "public.q"}] * 10),
                                          socket_path=sc.socket_path)
        self.assertEqual((code, out), (0, ""), err)
        self.assertEqual(sc.wait_metric(PUBLISHED, lambda v: v >= 59), 59)

    def test_control_lines_in_the_input_choose_what_is_printed(self):
        sc = self.start_sidecar()
        data = ndjson([{"topic": "public.c", "ref": 1}, {"replies": "errors"},
                       {"topic": "public.c", "ref": 2}, {"topic": "public.c", "x": 1, "ref": 3},
                       {"replies": "all"}, {"topic": "public.c", "ref": 4},
                       {"replies": "sometimes"}])
        code, out, err = self.run_publish(input=data, socket_path=sc.socket_path)
        self.assertEqual(code, 1, err)
        replies = self.replies(out)
        self.assertEqual([r.get("ref") for r in replies], [1, 3, 4, None])
        self.assertEqual([r["ok"] for r in replies], [True, False, True, False])
        # A control line the sidecar would refuse is sent, and refused.
        self.assertIn("'replies' must be", replies[3]["error"])
        self.assertEqual(sc.wait_metric(PUBLISHED, lambda v: v >= 3), 3)

    def test_lines_longer_than_the_limit_get_the_sidecars_error(self):
        sc = self.start_sidecar({"publish": {"max_line_bytes": 4096}})
        client = self.stream(sc, ["public.long"])
        big = json.dumps({"topic": "public.long", "data": "x" * 5000})
        # Past what the command holds of a line: passed on as it is read.
        huge = json.dumps({"topic": "public.long", "data": "y" * (3 * 1024 * 1024)})
        data = ndjson([{"topic": "public.long", "data": "before"}]) + big.encode() + b"\n" + \
            huge.encode() + b"\n" + ndjson([{"topic": "public.long", "data": "after"}])
        code, out, err = self.run_publish(input=data, socket_path=sc.socket_path)
        self.assertEqual(code, 1, err)
        replies = self.replies(out)
        self.assertEqual([r["ok"] for r in replies], [True, False, False, True])
        for reply in replies[1:3]:
            self.assertIn("longer than publish.max_line_bytes", reply["error"])
        self.assertEqual([e.data for e in client.read_events(2)], ["before", "after"])

    def test_a_long_input_shows_progress_and_a_summary(self):
        sc = self.start_sidecar()
        proc = self.start_publish("--socket", sc.socket_path)
        # Fed for well over a second, so that progress is due.
        deadline = Deadline(1.8)
        sent = 0
        while not deadline.expired():
            proc.stdin.write(ndjson([{"topic": "public.slow", "data": str(sent)}]))
            proc.stdin.flush()
            sent += 1
            time.sleep(0.05)
        out, err = proc.communicate(timeout=TIMEOUT)  # closes its input
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(len(out.splitlines()), sent)
        err = err.decode()
        self.assertRegex(err, r"sse-sidecar publish: \d+ lines sent, \d+ accepted, 0 refused, "
                              r"\d+ lines/s\n")
        self.assertIn("sse-sidecar publish: done: %d lines sent, %d accepted, 0 refused in "
                      % (sent, sent), err)

    def test_a_closed_standard_output_does_not_stop_publishing(self):
        sc = self.start_sidecar()
        source = self.write("bulk.ndjson", ndjson(
            {"topic": "public.head", "data": str(i)} for i in range(20000)))
        with open(source, "rb") as stdin:
            proc = self.start_publish("--socket", sc.socket_path, stdin=stdin)
            first = proc.stdout.readline()  # as `| head -1` reads
            proc.stdout.close()
            self.assertIs(json.loads(first)["ok"], True)
            _, err = proc.communicate(timeout=TIMEOUT)
        self.assertEqual(proc.returncode, 0, err)
        self.assertNotIn(b"cannot write", err)
        self.assertEqual(sc.wait_metric(PUBLISHED, lambda v: v >= 20000), 20000)

    def test_through_a_shell_pipe_into_head(self):
        sc = self.start_sidecar()
        source = self.write("bulk.ndjson", ndjson(
            {"topic": "public.sh", "data": str(i)} for i in range(20000)))
        result = subprocess.run(
            ["sh", "-c", '"$0" publish --socket "$1" < "$2" | head -1', SIDECAR_BIN,
             sc.socket_path, source], capture_output=True, timeout=TIMEOUT)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(len(result.stdout.splitlines()), 1)
        wait_until(lambda: sc.metric(PUBLISHED) == 20000, message="20000 events published")

    # -- exit 2: no connection, or a lost one --

    def test_a_missing_socket_exits_2_naming_the_path(self):
        missing = self.path("nope.sock")
        code, out, err = self.run_publish("public.x", "--data", "x", socket_path=missing)
        self.assertEqual((code, out), (2, ""))
        self.assertIn("cannot connect to %s: no such socket" % missing, err)
        code, _, err = self.run_publish(input=b'{"topic":"public.x"}\n', socket_path=missing)
        self.assertEqual(code, 2)
        self.assertIn(missing, err)
        # A socket file nobody listens on (left by a crash), and a file that is no socket.
        stale = self.path("stale.sock")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.bind(stale)
        code, _, err = self.run_publish("public.x", socket_path=stale)
        self.assertEqual(code, 2)
        self.assertIn("cannot connect to %s: nothing is listening" % stale, err)
        plain = self.write("plain.txt", "x")
        code, _, err = self.run_publish("public.x", socket_path=plain)
        self.assertEqual(code, 2)
        self.assertIn("cannot connect to %s: it is not a socket" % plain, err)

    def test_a_socket_without_permission_exits_2_saying_so(self):
        sc = self.start_sidecar()
        command = [SIDECAR_BIN, "publish", "--socket", sc.socket_path, "public.x"]
        if os.geteuid() == 0:
            # Root passes every permission check: the command runs as nobody instead, kept out
            # by the socket's mode (0600) and its directory's.
            as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
            if not shutil.which("setpriv") or subprocess.run(
                    as_nobody + [SIDECAR_BIN, "--version"], capture_output=True).returncode:
                self.skipTest("cannot run the binary as another user than root")
            command = as_nobody + command
        else:
            os.chmod(sc.socket_path, 0)
        result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("cannot connect to %s: permission denied" % sc.socket_path, result.stderr)

    def test_a_refused_publisher_shows_the_sidecars_error(self):
        sc = self.start_sidecar({"publish": {"allowed_uids": [other_uid()]}})
        client = self.stream(sc, ["public.x"])
        for args, data in ((("public.x", "--data", "sneaky"), b""),
                           ((), ndjson([{"topic": "public.x"}] * 100))):
            code, out, err = self.run_publish(*args, input=data, socket_path=sc.socket_path)
            self.assertEqual(code, 2, err)
            self.assertEqual(out, "")
            self.assertIn('the sidecar ends the connection: {"ok":false,"error":"peer uid %d'
                          % os.getuid(), err)
            self.assertIn("is not allowed to publish", err)
            self.assertIn("refused the connection", err)
        client.assert_no_event(0.2)
        self.assertEqual(sc.metric(PUBLISHED), 0)

    def test_the_sidecar_killed_mid_input_exits_2_with_the_unanswered_count(self):
        sc = self.start_sidecar()
        proc = self.start_publish("--socket", sc.socket_path)
        proc.stdin.write(ndjson({"topic": "public.k", "data": str(i)} for i in range(10)))
        proc.stdin.flush()
        out = b""
        deadline = Deadline(30)
        while out.count(b"\n") < 10 and not deadline.expired():
            ready, _, _ = select.select([proc.stdout], [], [], max(deadline.remaining(), 0))
            if ready:
                out += os.read(proc.stdout.fileno(), 65536)
        self.assertEqual(out.count(b"\n"), 10, out)
        # Stopped, the sidecar takes the next lines into its socket and answers none.
        sc.signal(signal.SIGSTOP)
        self.addCleanup(lambda: sc.alive() and sc.signal(signal.SIGCONT))
        proc.stdin.write(ndjson({"topic": "public.k", "data": str(i)} for i in range(10, 60)))
        proc.stdin.flush()

        def pipe_empty():
            unread = fcntl.ioctl(proc.stdin.fileno(), termios.FIONREAD, struct.pack("i", 0))
            return struct.unpack("i", unread)[0] == 0
        wait_until(pipe_empty, timeout=30, message="the command to read its input")
        sc.kill()
        out, err = proc.communicate(timeout=TIMEOUT)
        self.assertEqual(proc.returncode, 2, err)
        err = err.decode()
        self.assertIn("ended with 50 lines unanswered", err)
        self.assertIn("may or may not have been published", err)
        self.assertIn("resend from input line 11", err)
        self.assertIn(sc.socket_path, err)

    def test_a_draining_sidecar_answers_what_it_read(self):
        sc = self.start_sidecar()
        proc = self.start_publish("--socket", sc.socket_path, "--quiet")
        proc.stdin.write(ndjson([{"topic": "public.d"}] * 5))
        proc.stdin.flush()
        wait_until(lambda: sc.metric(PUBLISHED) == 5, message="5 events published")
        sc.stop()
        _, err = proc.communicate(timeout=TIMEOUT)
        self.assertEqual(proc.returncode, 2, err)
        self.assertIn(b"before all input was sent (every line sent was answered): resend from "
                      b"input line 6", err)

    def test_a_socket_that_is_not_the_sidecars(self):
        # An echo server answers the command's first line with that line.
        path = self.path("echo.sock")
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(server.close)
        server.bind(path)
        server.listen(1)
        proc = self.start_publish("--socket", path, "public.x", "--data", "x")
        conn, _ = server.accept()
        self.addCleanup(conn.close)
        conn.sendall(conn.recv(65536))
        _, err = proc.communicate(timeout=TIMEOUT)
        self.assertEqual(proc.returncode, 2, err)
        self.assertIn(("%s sent a line that is no reply of the sidecar's (is it its publish "
                       'socket?): {"replies":"all"}' % path).encode(), err)

    # -- usage --

    def test_usage_errors_exit_2_before_connecting(self):
        sock = self.path("never.sock")
        for args, message in (
                (("--frobnicate",), "unknown option '--frobnicate'"),
                (("--data", "x"), "--data needs a TOPIC"),
                (("t", "hello"), "unexpected argument 'hello'"),
                (("t", "--data", "a", "--json", "1"), "exclusive"),
                (("t", "--retry", "soon"), "--retry takes a number of milliseconds"),
                (("t", "--json", "{oops"), "--json: not a JSON value"),
                (("t", "--data-file", self.path("none.txt")), "--data-file: cannot open"),
                (("t", "--socket"), "--socket needs a value"),
                (("t", "--reply-timeout", "soon"), "--reply-timeout takes a duration"),
                (("t", "--reply-timeout", "0s"), "--reply-timeout takes a duration")):
            code, out, err = self.run_publish(*args, socket_path=sock)
            self.assertEqual(code, 2, args)
            self.assertEqual(out, "", args)
            self.assertIn(message, err, args)
            self.assertIn("sse-sidecar publish --help", err, args)
            self.assertNotIn("cannot connect", err, args)

    def test_help(self):
        code, out, err = self.run_publish("--help")
        self.assertEqual((code, err), (0, ""))
        self.assertTrue(out.startswith("Usage: sse-sidecar publish TOPIC"), out)
        for word in ("--data-file", "--json", "--idempotency-key", "--quiet", "Exit status"):
            self.assertIn(word, out)
        daemon = subprocess.run([SIDECAR_BIN, "--help"], capture_output=True, text=True,
                                timeout=TIMEOUT)
        self.assertIn("sse-sidecar publish", daemon.stdout)


if __name__ == "__main__":
    unittest.main()
