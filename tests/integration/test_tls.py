"""The TLS stream listener (listen.sse_tls): real handshakes with curl, Python's ssl module and
`openssl s_client`, against certificates made here with the openssl command line (a test CA,
leaves for 127.0.0.1/localhost, an expired one, a key of another pair)."""

import json
import os
import select
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from sidecar_harness import (DEFAULT_TIMEOUT, SIDECAR_BIN, TOKEN, SidecarTestCase, SSEClient,
                             free_port, wait_until)

CA_CONFIG = """\
[ca]
default_ca = test
[test]
database = {dir}/index
new_certs_dir = {dir}
serial = {dir}/serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = copy
[any]
commonName = supplied
"""

LEAF_SERIAL = "1001"
RENEWED_SERIAL = "2002"


def run(*args, cwd=None):
    subprocess.run(args, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, timeout=60)


class Certificates:
    """A test CA and the files signed by it, in a temporary directory."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sse-tls-", dir="/tmp")
        d = self.dir
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", self.path("ca.key"), "-out", self.path("ca.pem"), "-days", "2",
            "-subj", "/CN=sse-sidecar test CA")
        self.leaf = self.sign("leaf", LEAF_SERIAL)
        self.renewed = self.sign("renewed", RENEWED_SERIAL, days=30)
        # An expired leaf: `openssl ca` takes explicit dates, `x509 -days` only ahead.
        os.makedirs(self.path("db"))
        open(self.path("db/index"), "w").close()
        with open(self.path("db/serial"), "w") as f:
            f.write("3003\n")
        with open(self.path("ca.cnf"), "w") as f:
            f.write(CA_CONFIG.format(dir=self.path("db")))
        self.csr("expired")
        run("openssl", "ca", "-batch", "-config", self.path("ca.cnf"), "-cert",
            self.path("ca.pem"), "-keyfile", self.path("ca.key"), "-in", self.path("expired.csr"),
            "-out", self.path("expired.pem"), "-startdate", "20200101000000Z", "-enddate",
            "20200102000000Z", "-notext")
        self.expired = (self.path("expired.pem"), self.path("expired.key"))
        with open(self.path("garbage.pem"), "w") as f:
            f.write("this is not a certificate\n")

    def path(self, name):
        return os.path.join(self.dir, name)

    def csr(self, name):
        with open(self.path(name + ".ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n")
        run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", self.path(name + ".key"), "-out", self.path(name + ".csr"),
            "-subj", "/CN=localhost")

    def sign(self, name, serial, days=2):
        self.csr(name)
        run("openssl", "x509", "-req", "-in", self.path(name + ".csr"), "-CA",
            self.path("ca.pem"), "-CAkey", self.path("ca.key"), "-set_serial", "0x" + serial,
            "-days", str(days), "-extfile", self.path(name + ".ext"), "-out", self.path(name + ".pem"))
        return (self.path(name + ".pem"), self.path(name + ".key"))

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def not_after(pem):
    """A certificate's notAfter in unix seconds, as the openssl command reads it."""
    out = subprocess.run(["openssl", "x509", "-in", pem, "-noout", "-enddate"], check=True,
                         capture_output=True, text=True).stdout
    return int(ssl.cert_time_to_seconds(out.strip().split("=", 1)[1]))


def client_context(certs, alpn=("http/1.1",)):
    ctx = ssl.create_default_context(cafile=certs.path("ca.pem"))
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


class TlsSSEClient(SSEClient):
    """The harness's HTTP/1.x + SSE client, over TLS."""

    def __init__(self, port, context, timeout=DEFAULT_TIMEOUT, session=None):
        super().__init__(port, timeout=timeout)
        try:
            self.sock = context.wrap_socket(self.sock, server_hostname="localhost", session=session)
        except Exception:
            self.sock.close()
            raise


def serial_of(sock):
    return "%X" % int(sock.getpeercert()["serialNumber"], 16)


class TlsTestCase(SidecarTestCase):
    """A test CA and leaf for the class, and a sidecar with both stream listeners."""

    @classmethod
    def setUpClass(cls):
        cls.certs = Certificates()

    @classmethod
    def tearDownClass(cls):
        cls.certs.cleanup()

    def start_tls(self, extra=None, pair=None):
        """A sidecar with both listeners; its certificate files are copies the test may change."""
        cert, key = pair or self.certs.leaf
        workdir = tempfile.mkdtemp(prefix="sse-tls-files-", dir="/tmp")
        self.addCleanup(shutil.rmtree, workdir, True)
        self.cert_file = os.path.join(workdir, "fullchain.pem")
        self.key_file = os.path.join(workdir, "privkey.pem")
        shutil.copy(cert, self.cert_file)
        shutil.copy(key, self.key_file)
        os.chmod(self.key_file, 0o600)
        self.tls_port = free_port()
        overrides = {
            "listen": {"sse_tls": "127.0.0.1:%d" % self.tls_port},
            "tls": {"certificate_file": self.cert_file, "key_file": self.key_file},
        }
        for key, value in (extra or {}).items():
            overrides.setdefault(key, {}).update(value)
        return self.start_sidecar(overrides)


class TlsListenerTest(TlsTestCase):

    def tls_stream(self, topics, context=None, query=None, session=None):
        client = self.track(TlsSSEClient(self.tls_port, context or client_context(self.certs),
                                         session=session))
        target = "/events?" + "&".join("topic=" + t for t in topics)
        if query:
            target += "&" + query
        client.request("GET", target)
        client.read_head()
        self.assertEqual(client.status, 200, bytes(client.wire))
        client.wait_for(lambda: client.retry is not None, None, "the opening retry:")
        return client

    def publish(self, sc, topic, data):
        pub = self.publisher(sc)
        pub.send({"topic": topic, "data": data})
        reply = pub.read_reply()
        self.assertTrue(reply["ok"], reply)
        return reply

    def handshakes(self, sc, result):
        return sc.metric('sse_tls_handshakes_total{result="%s"}' % result)

    # -- streaming --

    def test_curl_streams_events_over_https(self):
        sc = self.start_tls()
        url = "https://localhost:%d/events?topic=public.curl" % self.tls_port
        proc = subprocess.Popen(
            ["curl", "-sS", "-N", "--http1.1", "--max-time", "20", "--cacert",
             self.certs.path("ca.pem"), "--resolve", "localhost:%d:127.0.0.1" % self.tls_port,
             url], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(lambda: (proc.kill(), proc.wait(), proc.stdout.close(),
                                 proc.stderr.close()))
        got = b""

        def read_some(until):
            nonlocal got
            deadline = time.monotonic() + DEFAULT_TIMEOUT
            while until not in got and time.monotonic() < deadline:
                ready, _, _ = select.select([proc.stdout], [], [], 0.2)
                if ready:
                    chunk = os.read(proc.stdout.fileno(), 65536)
                    if not chunk:
                        break
                    got += chunk
            return until in got

        self.assertTrue(read_some(b"retry:"), (got, proc.stderr.read1() if proc.poll() else b""))
        sc.wait_metric('sse_connections_open_by_transport{transport="tls"}', lambda v: v == 1)
        self.publish(sc, "public.curl", "over tls")
        self.assertTrue(read_some(b"data: over tls\n"), got)

    def test_python_client_streams_with_alpn_http11_and_the_plain_listener_still_works(self):
        sc = self.start_tls()
        secure = self.tls_stream(["public.both"])
        self.assertEqual(secure.sock.selected_alpn_protocol(), "http/1.1")
        self.assertIn(secure.sock.version(), ("TLSv1.2", "TLSv1.3"))
        self.assertEqual(serial_of(secure.sock), LEAF_SERIAL)
        plain = self.stream(sc, ["public.both"])
        m = sc.metrics()
        self.assertEqual(m['sse_connections_open_by_transport{transport="tls"}'], 1)
        self.assertEqual(m['sse_connections_open_by_transport{transport="plain"}'], 1)
        self.assertEqual(m['sse_tls_handshakes_total{result="ok"}'], 1)
        self.publish(sc, "public.both", "to both")
        self.assertEqual(secure.next_event().data, "to both")
        self.assertEqual(plain.next_event().data, "to both")
        status, _, body = sc.admin_request(
            "GET", "/streams", headers={"Authorization": "Bearer " + TOKEN})
        self.assertEqual(status, 200, body)
        protocols = sorted(s["protocol"] for s in json.loads(body)["streams"])
        self.assertEqual(protocols, ["h1", "h1+tls"])
        secure.close()
        sc.wait_for_log("proto=h1+tls")
        plain.close()
        sc.wait_for_log("proto=h1\n")

    def test_a_client_without_alpn_gets_http11(self):
        self.start_tls()
        client = self.tls_stream(["public.noalpn"], context=client_context(self.certs, alpn=()))
        self.assertIsNone(client.sock.selected_alpn_protocol())

    def test_a_client_offering_neither_h2_nor_http11_is_refused_with_no_application_protocol(self):
        sc = self.start_tls()
        with self.assertRaises(ssl.SSLError) as raised:
            TlsSSEClient(self.tls_port, client_context(self.certs, alpn=("spdy/3", "h3"))).close()
        self.assertIn("NO APPLICATION PROTOCOL", str(raised.exception).upper().replace("_", " "))
        sc.wait_metric('sse_tls_handshakes_total{result="alpn"}', lambda v: v == 1)

    def test_alpn_prefers_h2_and_accepts_a_client_offering_only_h2(self):
        self.start_tls()
        for offer in (("h2",), ("http/1.1", "h2")):
            sock = self.track(TlsSSEClient(self.tls_port, client_context(self.certs, alpn=offer)))
            self.assertEqual(sock.sock.selected_alpn_protocol(), "h2", offer)

    def test_sessions_resume_by_ticket_and_by_session_id(self):
        sc = self.start_tls()
        cases = (("TLS 1.3, ticket", ssl.TLSVersion.TLSv1_3, False),
                 ("TLS 1.2, ticket", ssl.TLSVersion.TLSv1_2, False),
                 ("TLS 1.2, session id (a client without tickets)", ssl.TLSVersion.TLSv1_2, True))
        for name, version, no_ticket in cases:
            ctx = client_context(self.certs)
            ctx.minimum_version = ctx.maximum_version = version
            if no_ticket:
                ctx.options |= ssl.OP_NO_TICKET
            # The opening retry has been read, so a TLS 1.3 ticket (sent after the handshake) is in.
            first = self.tls_stream(["public.resume"], context=ctx)
            session = first.sock.session
            self.assertFalse(first.sock.session_reused, name)
            self.assertEqual(session.has_ticket, not no_ticket, name)
            version_used = first.sock.version()
            first.close()
            again = self.tls_stream(["public.resume"], context=ctx, session=session)
            self.assertTrue(again.sock.session_reused, name)
            self.assertEqual(again.sock.version(), version_used, name)
            self.publish(sc, "public.resume", name)
            self.assertEqual(again.next_event().data, name)
            again.close()
        # Six handshakes, three of them resumed, none failed.
        self.assertEqual(self.handshakes(sc, "ok"), 6)

    def test_tls_1_1_is_refused(self):
        sc = self.start_tls()
        # Debian's OpenSSL still speaks TLS 1.1 as a client at security level 0.
        proc = subprocess.run(
            ["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.tls_port, "-tls1_1",
             "-cipher", "DEFAULT:@SECLEVEL=0"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            timeout=30)
        self.assertNotEqual(proc.returncode, 0, proc.stdout)
        sc.wait_metric('sse_tls_handshakes_total{result="protocol_version"}', lambda v: v == 1)
        self.assertEqual(self.handshakes(sc, "ok"), 0)

    def test_garbage_instead_of_a_client_hello_is_closed_and_counted(self):
        sc = self.start_tls()
        for garbage in (b"GET /events?topic=public.x HTTP/1.1\r\nHost: x\r\n\r\n",
                        b"\x16\x03\x01\xff\xff" + b"\x00" * 64):
            client = self.track(SSEClient(self.tls_port))
            client.send(garbage)
            client.read_to_eof()
        sc.wait_metric('sse_tls_handshakes_total{result="not_tls"}', lambda v: v >= 1)
        m = sc.metrics()
        failed = sum(v for k, v in m.items()
                     if k.startswith("sse_tls_handshakes_total") and 'result="ok"' not in k)
        self.assertEqual(failed, 2)
        self.assertEqual(m['sse_connections_open_by_transport{transport="tls"}'], 0)

    # -- timeouts --

    def test_half_open_handshakes_are_closed_at_the_timeout_while_a_client_streams(self):
        sc = self.start_tls({"limits": {"request_timeout": "1s"}})
        streaming = self.tls_stream(["public.busy"])
        idle = []
        for _ in range(200):
            s = socket.create_connection(("127.0.0.1", self.tls_port), timeout=DEFAULT_TIMEOUT)
            self.addCleanup(s.close)
            idle.append(s)
        self.publish(sc, "public.busy", "while 200 wait")
        self.assertEqual(streaming.next_event().data, "while 200 wait")
        sc.wait_metric('sse_tls_handshakes_total{result="timeout"}', lambda v: v == 200,
                       timeout=15)
        for s in idle:
            s.settimeout(DEFAULT_TIMEOUT)
            self.assertEqual(s.recv(1), b"")  # closed, not answered
        self.publish(sc, "public.busy", "after")
        self.assertEqual(streaming.next_event().data, "after")
        self.assertEqual(sc.metric('sse_connections_open_by_transport{transport="tls"}'), 1)

    # -- reload --

    def test_a_reload_serves_the_new_certificate_and_open_streams_keep_going(self):
        sc = self.start_tls()
        expiry = "sse_tls_certificate_expiry_timestamp_seconds"
        self.assertEqual(sc.metric(expiry), not_after(self.certs.leaf[0]))
        old = self.tls_stream(["public.reload"])
        self.assertEqual(serial_of(old.sock), LEAF_SERIAL)
        shutil.copy(self.certs.renewed[0], self.cert_file)
        shutil.copy(self.certs.renewed[1], self.key_file)
        sc.signal(signal.SIGHUP)
        sc.wait_for_log("TLS certificate reloaded")
        # The renewal's 30 days, for the expiry alert.
        self.assertEqual(sc.metric(expiry), not_after(self.certs.renewed[0]))
        self.publish(sc, "public.reload", "after reload")
        self.assertEqual(old.next_event().data, "after reload")
        fresh = self.tls_stream(["public.reload"])
        self.assertEqual(serial_of(fresh.sock), RENEWED_SERIAL)

    def test_a_bad_certificate_on_reload_is_rejected_and_the_old_one_served(self):
        sc = self.start_tls()
        old = self.tls_stream(["public.keep"])
        shutil.copy(self.certs.path("garbage.pem"), self.cert_file)
        sc.signal(signal.SIGHUP)
        sc.wait_for_log("keeping the running configuration")
        self.assertIn("'tls.certificate_file': %s: holds no PEM certificate" % self.cert_file,
                      sc.log())
        fresh = self.tls_stream(["public.keep"])
        self.assertEqual(serial_of(fresh.sock), LEAF_SERIAL)
        self.publish(sc, "public.keep", "still")
        self.assertEqual(old.next_event().data, "still")
        # A key of another pair is refused the same way.
        shutil.copy(self.certs.renewed[0], self.cert_file)
        sc.signal(signal.SIGHUP)
        sc.wait_for_log("does not match the certificate")
        self.assertEqual(serial_of(self.tls_stream(["public.keep"]).sock), LEAF_SERIAL)


class TlsCheckConfigTest(unittest.TestCase):
    """--check-config on TLS settings: each problem names the key and says what to fix."""

    @classmethod
    def setUpClass(cls):
        cls.certs = Certificates()

    @classmethod
    def tearDownClass(cls):
        cls.certs.cleanup()

    def check(self, text):
        path = os.path.join(self.certs.dir, "config.yaml")
        with open(path, "w") as f:
            f.write("publish:\n  socket: \"\"\n" + text)
        proc = subprocess.run([SIDECAR_BIN, "--check-config", path], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=30, text=True)
        return proc.returncode, proc.stderr

    def tls_config(self, cert, key):
        return ("listen:\n  sse_tls: \"127.0.0.1:7443\"\ntls:\n  certificate_file: %s\n"
                "  key_file: %s\n" % (cert, key))

    def test_a_good_pair_is_valid(self):
        code, err = self.check(self.tls_config(*self.certs.leaf))
        self.assertEqual((code, err), (0, ""))

    def test_the_files_are_required_with_the_listener(self):
        code, err = self.check("listen:\n  sse_tls: \"127.0.0.1:7443\"\n")
        self.assertEqual(code, 2)
        self.assertIn(":4:12: 'listen.sse_tls' is set: it needs 'tls.certificate_file'", err)
        self.assertIn("'tls.key_file'", err)

    def test_a_missing_file(self):
        code, err = self.check(self.tls_config("/nonexistent/cert.pem", self.certs.leaf[1]))
        self.assertEqual(code, 2)
        self.assertIn(":6:21: 'tls.certificate_file': cannot read /nonexistent/cert.pem", err)

    def test_a_file_that_is_not_pem(self):
        code, err = self.check(self.tls_config(self.certs.leaf[0], self.certs.path("garbage.pem")))
        self.assertEqual(code, 2)
        self.assertIn(":7:13: 'tls.key_file': %s: holds no PEM private key"
                      % self.certs.path("garbage.pem"), err)

    def test_a_key_that_does_not_match(self):
        code, err = self.check(self.tls_config(self.certs.leaf[0], self.certs.renewed[1]))
        self.assertEqual(code, 2)
        self.assertIn("'tls.key_file': %s: does not match the certificate" % self.certs.renewed[1],
                      err)

    def test_an_expired_certificate_is_a_warning(self):
        code, err = self.check(self.tls_config(*self.certs.expired))
        self.assertEqual(code, 0, err)
        self.assertIn(":6:21: warning: 'tls.certificate_file': %s: the certificate expired on"
                      % self.certs.expired[0], err)

    def test_a_bad_address(self):
        code, err = self.check("listen:\n  sse_tls: nowhere\n")
        self.assertEqual(code, 2)
        self.assertIn("'nowhere' is not an address", err)


if __name__ == "__main__":
    unittest.main()
