"""Reverse-proxy snippets: every snippet in the operations guide ("Behind a reverse proxy" in
docs/operations.md) is taken from the page by its code-fence language, so the guide and this test
cannot drift. Only mechanical substitutions are applied (ports, the sidecar's address,
certificate paths, pid/log/temp paths, and for the timeout tests the timeout values); a missing
substitution target fails the test with the snippet's name. Each config then passes the proxy's
own checker, the proxy runs in the foreground on loopback, and real curl streams events through
it over HTTPS, with a test CA and a certificate for the snippets' host name.

The timeout tests run the sidecar with a 1 s heartbeat: six idle streams, opened spread over one
interval, must outlive a proxy timeout a little above it (1.5 s) for six seconds, and (the
control) be cut by one below it (0.5 s).

A proxy that is not installed skips its tests; `scripts/setup --test` installs all three.
"""

import os
import pwd
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

from sidecar_harness import REPO_ROOT, Deadline, SidecarTestCase, free_port

OPERATIONS_MD = os.path.join(REPO_ROOT, "docs", "operations.md")
SECTION = "## Behind a reverse proxy"
HOST = "app.example.com"          # the snippets' server name; curl resolves it to loopback
SIDECAR_ADDRESS = "127.0.0.1:7700"  # listen.sse in the snippets

HEARTBEAT = "1s"          # stream.heartbeat_interval for the timeout tests
ABOVE_HEARTBEAT = "1500ms"
BELOW_HEARTBEAT = "500ms"
IDLE_STREAMS = 6
IDLE_SECONDS = 6.0


# ---------------------------------------------------------------------------------------------
# The guide


def doc_snippet(language):
    """The one code block fenced as ```language in the guide's reverse-proxy section."""
    with open(OPERATIONS_MD, encoding="utf-8") as f:
        text = f.read()
    start = text.find("\n" + SECTION + "\n")
    if start < 0:
        raise AssertionError("docs/operations.md has no section %r" % SECTION)
    end = text.find("\n## ", start + 1)
    section = text[start:end if end >= 0 else len(text)]
    blocks = re.findall(r"^```%s\n(.*?)^```$" % re.escape(language), section, re.M | re.S)
    if len(blocks) != 1:
        raise AssertionError("docs/operations.md, %r: expected one ```%s block, found %d"
                             % (SECTION, language, len(blocks)))
    return blocks[0]


def substitute(snippet, name, what, old, new):
    """`snippet` with every `old` replaced by `new`; fails, saying what is missing, when the
    snippet named `name` does not contain `old`."""
    if old not in snippet:
        raise AssertionError("the %s snippet in docs/operations.md no longer contains %r (%s): "
                             "update the snippet or this test's substitution"
                             % (name, old, what))
    return snippet.replace(old, new)


def substitute_values(snippet, name, what, pattern, new):
    """Replaces group 2 of each match of `pattern` (prefix, value) with `new`, or keeps it when
    `new` is None; returns (text, the values found). Fails when nothing matches."""
    found = []

    def replace(m):
        found.append(m.group(2))
        return m.group(1) + (m.group(2) if new is None else new)

    text = re.sub(pattern, replace, snippet, flags=re.M)
    if not found:
        raise AssertionError("the %s snippet in docs/operations.md has no %s (pattern %r): "
                             "update the snippet or this test's substitution"
                             % (name, what, pattern))
    return text, found


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def seconds(duration):
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d)", duration)
    if not m:
        raise AssertionError("cannot read the duration %r" % duration)
    return int(m.group(1)) * _UNITS[m.group(2)]


def default_heartbeat_seconds():
    """stream.heartbeat_interval's default, as config.example.yaml documents it."""
    with open(os.path.join(REPO_ROOT, "config.example.yaml"), encoding="utf-8") as f:
        m = re.search(r"^\s+heartbeat_interval:\s*(\S+)", f.read(), re.M)
    if not m:
        raise AssertionError("config.example.yaml documents no stream.heartbeat_interval")
    return seconds(m.group(1))


# ---------------------------------------------------------------------------------------------
# Certificates


def make_certificates(directory):
    """A test CA and a certificate for HOST signed by it: {ca, cert, key, pem (cert + key)}."""
    def openssl(*args):
        result = subprocess.run(["openssl"] + list(args), cwd=directory, capture_output=True,
                                text=True, timeout=30)
        if result.returncode != 0:
            raise AssertionError("openssl %s failed: %s" % (args[0], result.stderr))

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=sse-sidecar proxy test CA")
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=" + HOST)
    with open(os.path.join(directory, "server.ext"), "w", encoding="utf-8") as f:
        f.write("subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"
                % HOST)
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-set_serial", "0x%s" % os.urandom(8).hex(), "-days", "2", "-extfile", "server.ext",
            "-out", "server.pem")
    paths = {name: os.path.join(directory, file) for name, file in
             (("ca", "ca.pem"), ("cert", "server.pem"), ("key", "server.key"),
              ("pem", "server-and-key.pem"))}
    with open(paths["pem"], "w", encoding="utf-8") as out:
        for part in ("cert", "key"):
            with open(paths[part], encoding="utf-8") as f:
                out.write(f.read())
    return paths


# ---------------------------------------------------------------------------------------------
# Processes


def read_text(path):
    """The file's text, or "" when it cannot be read (for failure reports)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def run_checker(command, workdir, env=None):
    """Runs a config checker in `workdir`; returns (exit code, stdout + stderr)."""
    result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            timeout=60, cwd=workdir, env=env)
    return result.returncode, result.stdout + result.stderr


class ProxyProcess:
    """One proxy in the foreground, in its own process group (nginx's workers are its
    children): stop() ends the whole group, however the proxy behaves."""

    def __init__(self, name, command, port, workdir, env=None):
        self.name = name
        self.port = port
        self.workdir = workdir
        self.log_path = os.path.join(workdir, "proxy.log")
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=log, cwd=workdir, env=env,
                                         start_new_session=True)
        finally:
            log.close()

    def wait_listening(self, timeout=15.0):
        deadline = Deadline(timeout)
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("%s exited with %s before listening:\n%s"
                                     % (self.name, self.proc.returncode, self.log()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                pass
            if deadline.expired():
                raise AssertionError("%s not listening on %d within %.0fs:\n%s"
                                     % (self.name, self.port, timeout, self.log()))
            time.sleep(0.05)

    def stop(self):
        # Signalled as a group, which holds its id while the leader or a worker of it lives.
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=wait)
                # Leftover workers of a leader that already exited.
                os.killpg(self.proc.pid, signal.SIGKILL)
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                pass
            break
        if self.proc.poll() is None:
            self.proc.wait()

    def log(self):
        return read_text(self.log_path)


class CurlStream:
    """`curl --no-buffer --include` on one stream URL: the response head and the event stream as
    curl writes them out, read with deadlines. `ended` once curl closed its output."""

    def __init__(self, url, port, ca_file, http_version, stderr_path):
        command = ["curl", "--silent", "--show-error", "--no-buffer", "--include",
                   "--http2" if http_version == "2" else "--http1.1",
                   "--cacert", ca_file, "--resolve", "%s:%d:127.0.0.1" % (HOST, port), url]
        self.stderr_path = stderr_path
        with open(stderr_path, "wb") as err:
            self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=err)
        self.raw = bytearray()
        self.status_line = None
        self.headers = {}
        self._body = ""
        self.ended = False
        self.opened_at = None   # when the opening retry: came through
        self.ended_at = None
        self.retry = None
        self.comments = 0
        self.events = []   # (event, id, data)
        self._block = {}

    def fileno(self):
        return self.proc.stdout.fileno()

    def read_available(self):
        """Reads once what curl wrote (the caller saw it readable)."""
        data = os.read(self.fileno(), 65536)
        if not data:
            self.ended = True
            self.ended_at = time.monotonic()
            return
        self.raw += data
        if self.status_line is None:
            end = self.raw.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(self.raw[:end]).decode("latin-1").split("\r\n")
            self.status_line = lines[0].strip()
            for line in lines[1:]:
                name, _, value = line.partition(":")
                self.headers[name.strip().lower()] = value.strip()
            self._feed(bytes(self.raw[end + 4:]).decode("utf-8"))
        else:
            self._feed(data.decode("utf-8"))

    def _feed(self, text):
        self._body += text
        *lines, self._body = self._body.split("\n")
        for line in lines:
            if line == "":
                if "data" in self._block:
                    self.events.append((self._block.get("event", "message"),
                                        self._block.get("id"), "\n".join(self._block["data"])))
                self._block = {}
            elif line.startswith(":"):
                self.comments += 1
            else:
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "data":
                    self._block.setdefault("data", []).append(value)
                elif name == "retry":
                    self.retry = int(value)
                else:
                    self._block[name] = value

    def wait_for(self, predicate, timeout, what):
        pump([self], timeout, until=predicate)
        if not predicate():
            raise AssertionError("through the proxy: %s while waiting for %s\n%s"
                                 % ("stream ended" if self.ended else "timed out", what,
                                    self.describe()))

    def describe(self):
        err = read_text(self.stderr_path).strip()
        return ("curl exit %s, stderr %r, status %r, %d events, %d heartbeats, last bytes %r"
                % (self.proc.poll(), err, self.status_line, len(self.events), self.comments,
                   bytes(self.raw[-300:])))

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


def pump(streams, timeout, until=None):
    """Reads every stream for `timeout` seconds, or until `until()` holds or all ended."""
    deadline = Deadline(timeout)
    while not (until and until()):
        open_streams = [s for s in streams if not s.ended]
        remaining = deadline.remaining()
        if not open_streams or remaining <= 0:
            return
        readable, _, _ = select.select(open_streams, [], [], remaining)
        for s in readable:
            s.read_available()


# ---------------------------------------------------------------------------------------------
# The tests, once per proxy


class ProxySnippetChecks:
    """Mixed into one TestCase per proxy, which says how to build, check and run its config.
    Each of `timeout_patterns` matches (prefix, value) of one timeout in the snippet that the
    heartbeat must beat; none when the snippet sets none."""

    binary = None
    language = None
    timeout_patterns = ()

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # nginx and haproxy live in /usr/sbin, which an ordinary user's PATH lacks.
        search = os.pathsep.join([os.environ.get("PATH", os.defpath), "/usr/sbin", "/sbin"])
        cls.program = shutil.which(cls.binary, path=search)
        if cls.program is None:
            raise unittest.SkipTest("%s is not installed (scripts/setup --test installs it)"
                                    % cls.binary)
        cls.cert_dir = tempfile.mkdtemp(prefix="sse-proxy-certs-", dir="/tmp")
        cls.addClassCleanup(shutil.rmtree, cls.cert_dir, True)
        cls.certs = make_certificates(cls.cert_dir)

    # -- per proxy --

    def substitute_listen(self, text, port):
        """The snippet listening on 127.0.0.1:`port` instead of port 443."""
        raise NotImplementedError

    def substitute_certificates(self, text):
        """The snippet using the test certificate and key (as nginx and Caddy name them)."""
        text = substitute(text, self.language, "the certificate",
                          "/etc/ssl/certs/app.example.com.pem", self.certs["cert"])
        return substitute(text, self.language, "the key",
                          "/etc/ssl/private/app.example.com.key", self.certs["key"])

    def render(self, workdir, port, sidecar_port, timeout):
        """Writes the proxy's config into `workdir`; returns its path."""
        raise NotImplementedError

    def check_command(self, config_path, workdir):
        raise NotImplementedError

    def run_command(self, config_path, workdir):
        raise NotImplementedError

    def checker_problems(self, output):
        """The lines of a successful check's output that report a problem."""
        raise NotImplementedError

    def environment(self, workdir):
        return None

    # -- shared --

    def snippet(self, port, sidecar_port, timeout):
        """The guide's snippet with the listen port, the sidecar's address, the certificate
        paths and (unless `timeout` is None) its timeouts substituted."""
        text = self.substitute_listen(doc_snippet(self.language), port)
        text = substitute(text, self.language, "the sidecar's address (listen.sse)",
                          SIDECAR_ADDRESS, "127.0.0.1:%d" % sidecar_port)
        text = self.substitute_certificates(text)
        for pattern in self.timeout_patterns:
            text, _ = substitute_values(text, self.language, "timeout", pattern, timeout)
        return text

    def workdir(self):
        path = tempfile.mkdtemp(prefix="sse-proxy-%s-" % self.binary, dir="/tmp")
        self.addCleanup(shutil.rmtree, path, True)
        return path

    def start_proxy(self, sidecar, timeout=None):
        """Renders, checks and starts the proxy in front of `sidecar`; stopped after the test."""
        workdir = self.workdir()
        port = free_port()
        config = self.render(workdir, port, sidecar.sse_port, timeout)
        code, output = run_checker(self.check_command(config, workdir), workdir,
                                   self.environment(workdir))
        if code != 0:
            self.fail("%s's checker rejects the snippet (exit %d):\n%s\n--- config ---\n%s"
                      % (self.binary, code, output, read_text(config)))
        problems = self.checker_problems(output)
        if problems:
            self.fail("%s's checker reports problems with the snippet:\n%s"
                      % (self.binary, "\n".join(problems)))
        proxy = ProxyProcess(self.binary, self.run_command(config, workdir), port, workdir,
                             self.environment(workdir))
        self.addCleanup(self._finish_proxy, proxy)
        proxy.wait_listening()
        return proxy

    def _finish_proxy(self, proxy):
        proxy.stop()
        if self._test_failed():
            sys.stderr.write("\n--- %s log (%s) ---\n%s--- end of log ---\n"
                             % (proxy.name, self.id(), proxy.log()))

    def open_stream(self, proxy, topic, http_version="2"):
        """A curl stream through `proxy`, once the sidecar's opening retry: came through."""
        self._curls = getattr(self, "_curls", 0) + 1
        url = "https://%s:%d/events?topic=%s" % (HOST, proxy.port, topic)
        stderr_path = os.path.join(proxy.workdir, "curl-%d.err" % self._curls)
        stream = CurlStream(url, proxy.port, self.certs["ca"], http_version, stderr_path)
        self.addCleanup(stream.close)
        stream.wait_for(lambda: stream.retry is not None, 10, "the opening retry:")
        stream.opened_at = time.monotonic()
        expected = "HTTP/2 200" if http_version == "2" else "HTTP/1.1 200"
        self.assertTrue(stream.status_line.startswith(expected),
                        "status line %r through %s, expected %r"
                        % (stream.status_line, self.binary, expected))
        self.assertTrue(stream.headers.get("content-type", "").startswith("text/event-stream"),
                        stream.headers)
        return stream

    # -- tests --

    def test_events_stream_through_unbuffered(self):
        """Over HTTPS, HTTP/2 (every snippet serves it) and HTTP/1.1, each event published
        arrives through the proxy while the stream stays open, before the next is published."""
        sidecar = self.start_sidecar()
        proxy = self.start_proxy(sidecar)
        publisher = self.publisher(sidecar)
        for version in ("2", "1.1"):
            with self.subTest(http=version):
                topic = "public.proxy.h" + version.replace(".", "")
                stream = self.open_stream(proxy, topic, version)
                for n in range(3):
                    data = "line one %d\nline two %d" % (n, n)
                    reply = publisher.publish_ok(topic, data, event="tick")
                    stream.wait_for(lambda n=n: len(stream.events) > n, 5,
                                    "event #%d (published, not passed on)" % (n + 1))
                    self.assertEqual(stream.events[n], ("tick", reply["id"], data))
                self.assertFalse(stream.ended, stream.describe())

    def test_heartbeats_keep_idle_streams_open(self):
        """With the proxy's timeouts a little above the heartbeat interval, idle streams stay
        open far longer than those timeouts, and still deliver afterwards. The streams open
        spread over one interval, so that between them they meet every phase of the sidecar's
        heartbeat timer: a stream whose first heartbeat comes late is among them."""
        sidecar = self.start_sidecar({"stream": {"heartbeat_interval": HEARTBEAT}})
        proxy = self.start_proxy(sidecar, ABOVE_HEARTBEAT)
        streams = []
        for _ in range(IDLE_STREAMS):
            streams.append(self.open_stream(proxy, "public.idle"))
            pump(streams, seconds(HEARTBEAT) / IDLE_STREAMS)
        pump(streams, IDLE_SECONDS)
        cut = ["stream %d after %.1fs: %s" % (n, s.ended_at - s.opened_at, s.describe())
               for n, s in enumerate(streams) if s.ended]
        self.assertEqual(cut, [], "%s cut idle streams (heartbeat %s, proxy timeout %s)"
                         % (self.binary, HEARTBEAT, ABOVE_HEARTBEAT))
        reply = self.publisher(sidecar).publish_ok("public.idle", "still here")
        for s in streams:
            s.wait_for(lambda s=s: len(s.events) == 1, 5, "the event after the idle time")
            self.assertEqual(s.events[0], ("message", reply["id"], "still here"))
            self.assertGreaterEqual(s.comments, 4, "heartbeats through the proxy")


class TimeoutChecks:
    """For the proxies whose snippet sets the timeouts the heartbeat must beat."""

    def test_snippet_timeouts_are_above_the_default_heartbeat(self):
        """What the guide prints must itself keep idle streams open at the default heartbeat."""
        heartbeat = default_heartbeat_seconds()
        values = [value for pattern in self.timeout_patterns
                  for value in substitute_values(doc_snippet(self.language), self.language,
                                                 "timeout", pattern, None)[1]]
        for value in values:
            self.assertGreater(seconds(value), heartbeat,
                               "%s timeout %s in the guide is not above the default "
                               "stream.heartbeat_interval (%gs)" % (self.binary, value, heartbeat))

    def test_timeout_below_the_heartbeat_cuts_idle_streams(self):
        """The control: with the proxy's timeouts below the heartbeat interval, the proxy ends
        idle streams, so the test above can tell."""
        sidecar = self.start_sidecar({"stream": {"heartbeat_interval": HEARTBEAT}})
        proxy = self.start_proxy(sidecar, BELOW_HEARTBEAT)
        streams = [self.open_stream(proxy, "public.idle") for _ in range(IDLE_STREAMS)]
        pump(streams, IDLE_SECONDS, until=lambda: all(s.ended for s in streams))
        kept = [n for n, s in enumerate(streams) if not s.ended]
        self.assertEqual(kept, [], "%s kept idle streams open with a timeout (%s) below the "
                         "heartbeat interval (%s)" % (self.binary, BELOW_HEARTBEAT, HEARTBEAT))


class NginxSnippetTest(TimeoutChecks, ProxySnippetChecks, SidecarTestCase):
    binary = "nginx"
    language = "nginx"
    timeout_patterns = (r"^(\s*proxy_read_timeout\s+)(\w+)",)

    def substitute_listen(self, text, port):
        return substitute(text, "nginx", "the listen port", "listen 443 ",
                          "listen 127.0.0.1:%d " % port)

    def render(self, workdir, port, sidecar_port, timeout):
        # As Debian's nginx.conf: the site file is included inside `http`, with the settings of
        # Debian's http block that could touch a streamed response.
        sites = os.path.join(workdir, "sites-enabled")
        os.mkdir(sites)
        with open(os.path.join(sites, "sse-sidecar"), "w", encoding="utf-8") as f:
            f.write(self.snippet(port, sidecar_port, timeout))
        # A master started as root would run its workers as nobody: keep them the current user.
        user = "user %s;\n" % pwd.getpwuid(os.geteuid()).pw_name if os.geteuid() == 0 else ""
        config = os.path.join(workdir, "nginx.conf")
        with open(config, "w", encoding="utf-8") as f:
            f.write(user + """daemon off;
worker_processes 1;
pid {w}/nginx.pid;
error_log {w}/error.log info;
events {{
    worker_connections 512;
}}
http {{
    sendfile on;
    tcp_nopush on;
    gzip on;
    access_log {w}/access.log;
    client_body_temp_path {w}/client_body;
    proxy_temp_path {w}/proxy;
    fastcgi_temp_path {w}/fastcgi;
    uwsgi_temp_path {w}/uwsgi;
    scgi_temp_path {w}/scgi;
    include {w}/sites-enabled/*;
}}
""".format(w=workdir))
        return config

    def _args(self, config, workdir):
        # -e: the log nginx opens before it has read the config, which is /var/log/nginx's.
        return [self.program, "-p", workdir + "/", "-c", config, "-e",
                os.path.join(workdir, "error.log")]

    def check_command(self, config, workdir):
        return self._args(config, workdir) + ["-t"]

    def run_command(self, config, workdir):
        return self._args(config, workdir)

    def checker_problems(self, output):
        return [line for line in output.splitlines()
                if re.search(r"\[(warn|error|crit|alert|emerg)\]", line)]

    def _finish_proxy(self, proxy):
        super()._finish_proxy(proxy)
        if self._test_failed():
            sys.stderr.write("--- nginx error.log ---\n%s--- end of log ---\n"
                             % read_text(os.path.join(proxy.workdir, "error.log")))


class CaddySnippetTest(ProxySnippetChecks, SidecarTestCase):
    binary = "caddy"
    language = "caddy"

    def substitute_listen(self, text, port):
        return substitute(text, "caddy", "the site address", HOST + " {",
                          "%s:%d {" % (HOST, port))

    def render(self, workdir, port, sidecar_port, timeout):
        # Caddy must not reach out: no admin endpoint, no automatic HTTPS (the site has its own
        # certificate), no OCSP stapling (the test CA names no responder), loopback only.
        # Formatted as `caddy fmt` would, like the snippet.
        config = os.path.join(workdir, "Caddyfile")
        with open(config, "w", encoding="utf-8") as f:
            f.write("{\n\tadmin off\n\tauto_https off\n\tocsp_stapling off\n"
                    "\tdefault_bind 127.0.0.1\n}\n\n" + self.snippet(port, sidecar_port, timeout))
        return config

    def environment(self, workdir):
        # Caddy keeps its data and autosaved config under these.
        return dict(os.environ, HOME=workdir, XDG_CONFIG_HOME=os.path.join(workdir, "config"),
                    XDG_DATA_HOME=os.path.join(workdir, "data"))

    def check_command(self, config, workdir):
        return [self.program, "validate", "--config", config, "--adapter", "caddyfile"]

    def run_command(self, config, workdir):
        return [self.program, "run", "--config", config, "--adapter", "caddyfile"]

    def checker_problems(self, output):
        # The one warning the test's own `auto_https off` causes is expected.
        problems = [line for line in output.splitlines()
                    if re.search(r'"level":"(warn|error)"', line)
                    and "automatic HTTPS is completely disabled" not in line]
        if "Valid configuration" not in output:
            problems.append("no 'Valid configuration' in: " + output)
        return problems


class HAProxySnippetTest(TimeoutChecks, ProxySnippetChecks, SidecarTestCase):
    binary = "haproxy"
    language = "haproxy"
    timeout_patterns = (r"^(\s*timeout client\s+)(\w+)", r"^(\s*timeout server\s+)(\w+)")

    def substitute_listen(self, text, port):
        return substitute(text, "haproxy", "the listen port", "bind :443 ",
                          "bind 127.0.0.1:%d " % port)

    def substitute_certificates(self, text):
        return substitute(text, "haproxy", "the certificate and key",
                          "/etc/haproxy/certs/app.example.com.pem", self.certs["pem"])

    def render(self, workdir, port, sidecar_port, timeout):
        config = os.path.join(workdir, "haproxy.cfg")
        with open(config, "w", encoding="utf-8") as f:
            f.write(self.snippet(port, sidecar_port, timeout))
        return config

    def check_command(self, config, workdir):
        return [self.program, "-c", "-f", config]

    def run_command(self, config, workdir):
        return [self.program, "-db", "-f", config]

    def checker_problems(self, output):
        problems = [line for line in output.splitlines() if "[WARNING]" in line
                    or "[ALERT]" in line]
        if "Configuration file is valid" not in output:
            problems.append("no 'Configuration file is valid' in: " + output)
        return problems

if __name__ == "__main__":
    unittest.main()
