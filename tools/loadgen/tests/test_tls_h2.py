"""sse-loadgen's TLS and HTTP/2 subscribers against a real server: nginx with the Nchan module,
terminating TLS (and HTTP/2) on certificates made here with the openssl command line. Events are
published over nginx's plain listener with `sse-loadgen publish`, and the subscribers' JSON
report is checked: what arrived, what failed and why, and how many TCP connections nginx saw.

Run: LOADGEN_BIN=build/sse-loadgen python3 -m unittest -v test_tls_h2 (from this directory).
Needs nginx and libnginx-mod-nchan (scripts/setup --test)."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
LOADGEN_BIN = os.environ.get("LOADGEN_BIN") or os.path.normpath(
    os.path.join(HERE, "..", "..", "..", "build", "sse-loadgen"))
NCHAN_MODULE = "/usr/lib/nginx/modules/ngx_nchan_module.so"
# Without the binary or the server every test would fail the same way: say so once instead.
if not os.access(LOADGEN_BIN, os.X_OK):
    raise ImportError("no sse-loadgen binary at %s: build it (scripts/build) or set LOADGEN_BIN"
                      % LOADGEN_BIN)
if not shutil.which("nginx") or not os.path.exists(NCHAN_MODULE):
    raise ImportError("nginx with the Nchan module is needed: scripts/setup --test installs them")

TIMEOUT = 30  # generous: only to keep a broken run from hanging

NGINX_CONF = """\
load_module {module};
worker_processes 1;
daemon on;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  # One channel per test ($arg_id), so a test never sees another's events.
  server {{
    listen 127.0.0.1:{plain};
    location = /pubm {{ nchan_publisher; nchan_channel_id $arg_id; nchan_message_buffer_length 100; }}
    location = /status {{ stub_status; }}
  }}
  server {{
    listen 127.0.0.1:{h2} ssl http2;
    ssl_certificate {dir}/leaf.pem;
    ssl_certificate_key {dir}/leaf.key;
    location = /subm {{ nchan_subscriber eventsource; nchan_channel_id $arg_id; }}
    location = /gone {{ return 410; }}
  }}
  server {{
    listen 127.0.0.1:{h1} ssl;
    ssl_certificate {dir}/leaf.pem;
    ssl_certificate_key {dir}/leaf.key;
    location = /subm {{ nchan_subscriber eventsource; nchan_channel_id $arg_id; }}
  }}
  # By SNI: a client naming localhost gets the leaf for it, any other (an IP address sends no
  # SNI) the default server's certificate, which names another host.
  server {{
    listen 127.0.0.1:{by_name} ssl http2 default_server;
    ssl_certificate {dir}/elsewhere.pem;
    ssl_certificate_key {dir}/elsewhere.key;
    location = /subm {{ nchan_subscriber eventsource; nchan_channel_id $arg_id; }}
  }}
  server {{
    listen 127.0.0.1:{by_name} ssl http2;
    server_name localhost;
    ssl_certificate {dir}/leaf.pem;
    ssl_certificate_key {dir}/leaf.key;
    location = /subm {{ nchan_subscriber eventsource; nchan_channel_id $arg_id; }}
  }}
}}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*args, cwd=None):
    subprocess.run(args, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                   timeout=TIMEOUT)


def make_certificates(d):
    """A test CA, a leaf it signs for 127.0.0.1 and localhost, a leaf it signs for another name
    only, and a second CA nobody signs with (the wrong one to trust)."""
    for ca in ("ca", "other-ca"):
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", ca + ".key", "-out", ca + ".pem", "-days", "2",
            "-subj", "/CN=loadgen test " + ca, cwd=d)
    for name, san in (("leaf", "IP:127.0.0.1,DNS:localhost"), ("elsewhere", "DNS:elsewhere.example")):
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\n" % san)
        run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name, cwd=d)
        run("openssl", "x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-set_serial", "0x1001", "-days", "2", "-extfile", name + ".ext", "-out", name + ".pem",
            cwd=d)


class Nginx:
    def __init__(self, d):
        self.dir = d
        self.ports = {k: free_port() for k in ("plain", "h2", "h1", "by_name")}
        self.conf = os.path.join(d, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(NGINX_CONF.format(module=NCHAN_MODULE, dir=d, **self.ports))
        subprocess.run(["nginx", "-c", self.conf, "-p", d + "/"], check=True, timeout=TIMEOUT,
                       stderr=subprocess.PIPE)
        deadline = time.monotonic() + TIMEOUT
        for port in self.ports.values():
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)

    def stop(self):
        subprocess.run(["nginx", "-s", "stop", "-c", self.conf, "-p", self.dir + "/"],
                       stderr=subprocess.DEVNULL, timeout=TIMEOUT)
        pid_file = os.path.join(self.dir, "nginx.pid")
        deadline = time.monotonic() + TIMEOUT
        while os.path.exists(pid_file) and time.monotonic() < deadline:
            time.sleep(0.05)

    def active_connections(self):
        """nginx's own count of open client connections, this status request excluded."""
        url = "http://127.0.0.1:%d/status" % self.ports["plain"]
        with urllib.request.urlopen(url, timeout=TIMEOUT) as r:
            first = r.read().decode().splitlines()[0]  # "Active connections: N"
        return int(first.split(":")[1]) - 1


class LoadgenTlsH2Test(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="loadgen-tls-")
        try:
            make_certificates(cls.dir)
            cls.nginx = Nginx(cls.dir)
        except Exception:
            shutil.rmtree(cls.dir, ignore_errors=True)
            raise
        cls.channels = 0

    @classmethod
    def tearDownClass(cls):
        try:
            cls.nginx.stop()
        finally:
            shutil.rmtree(cls.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def new_channel(self):
        type(self).channels += 1
        return "%s-%d" % (self._testMethodName, self.channels)

    def url(self, listener, channel):
        return "https://127.0.0.1:%d/subm?id=%s" % (self.nginx.ports[listener], channel)

    def subscribe(self, url, connections, *extra):
        """Starts subscribers and waits for their READY line; returns the process."""
        ready = self.path("ready-%d" % time.monotonic_ns())
        proc = subprocess.Popen(
            [LOADGEN_BIN, "subscribe", "--url", url, "--connections", str(connections),
             "--sources", "0", "--quiet", "--ready-file", ready, *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait()))
        deadline = time.monotonic() + TIMEOUT
        while not os.path.exists(ready):
            if proc.poll() is not None or time.monotonic() > deadline:
                out, err = proc.communicate(timeout=TIMEOUT) if proc.poll() is not None else ("", "")
                self.fail("subscribers never became ready: %s %s" % (out, err))
            time.sleep(0.02)
        return proc

    def finish(self, proc):
        out, err = proc.communicate(timeout=TIMEOUT)
        lines = [l for l in out.splitlines() if l.startswith("{")]
        self.assertTrue(lines, "no report; stderr: " + err)
        return proc.returncode, json.loads(lines[-1])

    def run_subscribers(self, url, connections, *extra):
        """Subscribers that only connect (and fail or not): their exit status and report."""
        proc = self.subscribe(url, connections, "--idle", "--timeout", "0.5", *extra)
        return self.finish(proc)

    def publish(self, channel, events, *extra):
        out = subprocess.run(
            [LOADGEN_BIN, "publish", "--target", "nchan-http:http://127.0.0.1:%d" % self.nginx.ports["plain"],
             "--topics", channel + "{i}", "--topic-count", "1", "--events", str(events),
             "--size", "40", "--quiet", *extra],
            capture_output=True, text=True, timeout=TIMEOUT)
        self.assertEqual(out.returncode, 0, out.stderr)

    def burst(self, listener, subs, events, *extra):
        """`events` stamped events to `subs` subscribers of a fresh channel; the report, and
        nginx's count of client connections while the subscribers were connected."""
        channel = self.new_channel()
        # Publishing to "<channel>{i}" with one topic goes to channel "<channel>0".
        proc = self.subscribe(self.url(listener, channel + "0"), subs, "--expect-events", str(events),
                              "--timeout", str(TIMEOUT), "--linger", "0.5", *extra)
        connections = self.nginx.active_connections()
        self.publish(channel, events)
        status, report = self.finish(proc)
        return status, report, connections

    def assert_all_delivered(self, status, report, subs, events):
        self.assertEqual(report["failure_reasons"], {})
        self.assertEqual(report["disconnect_reasons"], {})
        self.assertEqual(report["connected"], subs)
        self.assertEqual(report["complete_streams"], subs)
        self.assertEqual(report["events_received"], subs * events)
        # Every delivery was timed from its publish stamp: the latency figures count each one.
        self.assertEqual(report["latency_ns"]["count"], subs * events)
        self.assertEqual(report["events_without_timestamp"], 0)
        self.assertEqual(status, 0)

    # ---- HTTP/1.1 over TLS

    def test_https_streams_deliver_and_time_every_event(self):
        status, r, connections = self.burst("h1", 20, 10, "--cacert", self.path("ca.pem"))
        self.assert_all_delivered(status, r, 20, 10)
        self.assertEqual(r["protocol"], "h1+tls")
        self.assertEqual(r["tcp_connections"], 20)
        self.assertEqual(connections, 20)

    def test_a_host_name_is_sent_as_sni_and_checked(self):
        # nginx picks the certificate naming localhost only when SNI asks for it.
        for extra in ((), ("--http2",)):
            url = "https://localhost:%d/subm?id=%s" % (self.nginx.ports["by_name"], self.new_channel())
            status, r = self.run_subscribers(url, 3, "--cacert", self.path("ca.pem"), *extra)
            self.assertEqual((r["connected"], r["failed"]), (3, 0), extra)
            self.assertEqual(status, 0)

    def test_a_certificate_from_an_untrusted_ca_fails_every_stream(self):
        status, r = self.run_subscribers(self.url("h1", self.new_channel()), 5,
                                         "--cacert", self.path("other-ca.pem"))
        self.assertEqual((r["connected"], r["failed"]), (0, 5))
        self.assertEqual(list(r["failure_reasons"]), ["certificate verify failed: unable to get local issuer certificate"])
        self.assertEqual(status, 1)
        # Without --cacert the system's CAs are trusted, which do not include the test CA either.
        status, r = self.run_subscribers(self.url("h1", self.new_channel()), 2)
        self.assertEqual(r["failed"], 2)
        self.assertEqual(status, 1)

    def test_insecure_accepts_any_certificate(self):
        status, r = self.run_subscribers(self.url("h1", self.new_channel()), 3, "--insecure")
        self.assertEqual((r["connected"], r["failed"]), (3, 0))
        self.assertEqual(status, 0)

    def test_a_certificate_for_another_name_fails(self):
        # An IP address is not sent as SNI (RFC 6066): nginx's default certificate comes back,
        # signed by the trusted CA, but for another name.
        status, r = self.run_subscribers(self.url("by_name", self.new_channel()), 3,
                                         "--cacert", self.path("ca.pem"))
        self.assertEqual((r["connected"], r["failed"]), (0, 3))
        self.assertEqual(list(r["failure_reasons"]), ["certificate verify failed: IP address mismatch"])
        self.assertEqual(status, 1)

    def test_a_plain_listener_is_not_tls(self):
        url = "https://127.0.0.1:%d/subm?id=x" % self.nginx.ports["plain"]
        status, r = self.run_subscribers(url, 2, "--cacert", self.path("ca.pem"))
        self.assertEqual(r["failed"], 2)
        self.assertEqual(list(r["failure_reasons"]), ["tls: wrong version number"])
        self.assertEqual(status, 1)

    # ---- HTTP/2

    def test_h2_streams_one_per_connection(self):
        status, r, connections = self.burst("h2", 12, 10, "--cacert", self.path("ca.pem"), "--http2")
        self.assert_all_delivered(status, r, 12, 10)
        self.assertEqual(r["protocol"], "h2")
        self.assertEqual(r["tcp_connections"], 12)
        self.assertEqual(connections, 12)

    def test_h2_streams_share_connections(self):
        status, r, connections = self.burst("h2", 12, 10, "--cacert", self.path("ca.pem"), "--http2",
                                            "--streams-per-connection", "5")
        self.assert_all_delivered(status, r, 12, 10)
        self.assertEqual(r["streams_per_connection"], 5)
        self.assertEqual(r["tcp_connections"], 3)  # 5 + 5 + 2
        self.assertEqual(connections, 3)

    def test_h2_against_a_server_without_it_fails_with_the_alpn_answer(self):
        status, r = self.run_subscribers(self.url("h1", self.new_channel()), 4,
                                         "--cacert", self.path("ca.pem"), "--http2")
        self.assertEqual((r["connected"], r["failed"]), (0, 4))
        self.assertEqual(list(r["failure_reasons"]), ["ALPN: the server chose http/1.1, not h2"])
        self.assertEqual(status, 1)

    def test_h2_a_refused_stream_fails_alone(self):
        # Each stream fails with its own status, on connections shared two by two.
        url = "https://127.0.0.1:%d/gone" % self.nginx.ports["h2"]
        status, r = self.run_subscribers(url, 4, "--cacert", self.path("ca.pem"), "--http2",
                                         "--streams-per-connection", "2")
        self.assertEqual((r["connected"], r["failed"]), (0, 4))
        self.assertEqual(r["failure_reasons"], {"HTTP 410": 4})
        self.assertEqual(r["tcp_connections"], 2)
        self.assertEqual(status, 1)

    def test_h2_streams_reopen_on_their_connection_with_last_event_id(self):
        # Streams closed and reopened 20 times a second resume after the last id they got:
        # Nchan replays from its buffer, and every number arrives once on every stream.
        channel = self.new_channel()
        proc = self.subscribe(self.url("h2", channel + "0"), 4, "--cacert", self.path("ca.pem"),
                              "--http2", "--streams-per-connection", "2", "--check-sequence",
                              "--sequence-from", "1", "--sequence-end", "40",
                              "--reconnect-rate", "20", "--timeout", str(TIMEOUT))
        self.publish(channel, 40, "--sequence", "--rate", "40", "--http-connections", "1")
        status, r = self.finish(proc)
        self.assertGreater(r["reconnects"], 5)
        self.assertEqual(r["reconnected"], r["reconnects"])
        self.assertEqual(r["tcp_connections"], 2)  # reopened beside the others, not reconnected
        seq = r["sequence"]
        self.assertEqual((seq["lost"], seq["duplicated"], seq["shortfall"]), (0, 0, 0))
        self.assertEqual(seq["checked"], 4 * 40)
        self.assertEqual(status, 0)


if __name__ == "__main__":
    unittest.main()
