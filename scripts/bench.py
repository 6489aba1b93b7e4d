#!/usr/bin/env python3
"""Side-by-side benchmark of sse-sidecar and Nchan (nginx) with the same client, sse-loadgen.

Run through scripts/bench, which builds a Release binary and installs nginx, the Nchan module
and gnuplot when missing. Each scenario runs against both servers in turn (sidecar, then
Nchan, alternating per repetition) on this machine, and the results go to bench/results.md
with a latency plot. Absolute numbers drift on shared machines; the ratios are the point.
The burst scenarios also time the whole burst and sample each server's memory (see burst()).
The cluster scenarios (--only cluster) run each server as two nodes sharing one redis-server
(see Cluster) and also measure Redis's own CPU time and memory (see RedisMeter).
The TLS scenarios (--only tls) run the same measurements over TLS, HTTP/1.1 and HTTP/2, with
both servers terminating TLS on one certificate made for the run (see make_certificates and
Secure); the HTTP/2 ones skip a server that does not offer h2.
"""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
SIDECAR_SSE = 17800
SIDECAR_ADMIN = 17801
SIDECAR_TLS = 17802
NCHAN_PORT = 8081  # fixed by bench/nchan.conf.in, like the reference config
NCHAN_TLS_PORT = 8444  # fixed by bench/nchan-tls.conf.in
H2_SHARED_STREAMS = 10  # h2_shared_burst: streams per connection, as tabs of one browser
RSS_INTERVAL_S = 0.02  # how often a burst samples the server's memory
AFTER_S = 5.0  # a burst's "after" memory is read this long after its last delivery
WARM_UP_EVENTS = 10  # published to another topic before a cluster scenario (Cluster.warm_up)


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def wait_port(port, timeout=10.0, proc=None):
    """Waits until something accepts on the port; with `proc`, fails at once if it exits."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("exited with status %d before listening on port %d" % (proc.returncode, port))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on port %d" % port)


_ports_given = set()


def free_port():
    """A loopback port nothing listens on now, and not given out before by this run. The
    cluster's servers take such ports rather than fixed ones, so that a server left over from
    other work on this machine is never measured in their place."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port


def stop_process(proc, timeout=15):
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            for line in Path("/proc/%d/status" % pid).read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


@dataclass
class Certificates:
    ca: Path  # what the subscribers trust
    cert: Path  # the servers' leaf
    key: Path


def make_certificates(tmp):
    """A test CA and a leaf it signs for 127.0.0.1 (and localhost), made with the openssl
    command line in the run's temporary directory. Both servers serve the leaf; the subscribers
    trust the CA, so they verify the chain and the address as a browser would. P-256 keys, as
    most public certificates have now."""
    d = tmp / "tls"
    d.mkdir(exist_ok=True)

    def openssl(*args):
        out = subprocess.run(["openssl", *args], cwd=d, capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError("openssl %s failed: %s" % (args[0], out.stderr.strip()[-500:]))
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=sse-sidecar bench CA")
    openssl("req", "-new", *ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=127.0.0.1")
    (d / "leaf.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n")
    openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", "0x1001",
            "-days", "2", "-extfile", "leaf.ext", "-out", "leaf.pem")
    return Certificates(d / "ca.pem", d / "leaf.pem", d / "leaf.key")


def offers_h2(port, certs):
    """Whether the TLS listener on `port` chooses h2 when a client offers h2 and http/1.1 (as
    browsers do) through ALPN."""
    ctx = ssl.create_default_context(cafile=str(certs.ca))
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return s.selected_alpn_protocol() == "h2"


class Background:
    """A sampling loop on a daemon thread: a subclass's _run() returns when _stop is set,
    start() starts it, stop() ends it and waits."""

    def __init__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        raise NotImplementedError

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


class RssSampler(Background):
    """Samples rss_kib(pids) every RSS_INTERVAL_S on a thread, as (CLOCK_REALTIME ns, KiB)
    pairs, from start() until stop(). The pids are fixed up front: a server's processes do not
    change during a scenario, and looking them up again each time would cost more than reading
    their memory."""

    def __init__(self, pids):
        super().__init__()
        self.pids = pids
        self.samples = []

    def _run(self):
        while True:
            self.samples.append((time.time_ns(), rss_kib(self.pids)))
            if self._stop.wait(RSS_INTERVAL_S):
                return


class Sidecar:
    """One sidecar. The single-node scenarios use the defaults; a cluster node (see Cluster)
    gets a tag for its files, ports of its own and the redis-server's port for its engine."""
    name = "sidecar"

    def __init__(self, build, tmp, tag="", sse_port=SIDECAR_SSE, admin_port=SIDECAR_ADMIN, redis_port=None,
                 certs=None):
        self.bin = build / "sse-sidecar"
        self.certs = certs  # with Certificates: listen.sse_tls on SIDECAR_TLS too
        self.tls_port = SIDECAR_TLS
        self.tmp = tmp
        self.tag = tag
        self.sse_port = sse_port
        self.admin_port = admin_port
        self.redis_port = redis_port
        self.socket = tmp / (tag + "publish.sock")
        self.proc = None

    def start(self):
        config = self.tmp / (self.tag + "sidecar.yaml")
        engine = ("engine: {type: redis, redis: {address: \"127.0.0.1:%d\", key_prefix: \"bench:\"}}\n"
                  % self.redis_port) if self.redis_port else ""
        tls_listen = ", sse_tls: \"127.0.0.1:%d\"" % self.tls_port if self.certs else ""
        tls = ("tls: {certificate_file: \"%s\", key_file: \"%s\"}\n" % (self.certs.cert, self.certs.key)
               if self.certs else "")
        config.write_text(
            "listen: {sse: \"127.0.0.1:%d\", admin: \"127.0.0.1:%d\"%s}\n"
            "workers: 0\n"
            "publish: {socket: \"%s\", max_line_bytes: 1MiB}\n"
            "access: {public_topics: [\"bench.*\"]}\n"
            "limits: {max_connections: 20000, subscriber_buffer_bytes: 4MiB}\n"
            "history: {max_events: 100}\n"
            "log: {level: warn}\n" % (self.sse_port, self.admin_port, tls_listen, self.socket) + engine + tls)
        self.proc = subprocess.Popen([str(self.bin), "--config", str(config)],
                                     stderr=open(self.tmp / (self.tag + "sidecar.log"), "ab"))
        wait_port(self.sse_port, proc=self.proc)
        if self.certs:
            wait_port(self.tls_port, proc=self.proc)
        if self.redis_port:
            self.wait_ready()

    def wait_ready(self, timeout=10.0):
        """With the Redis engine, /readyz answers 200 once the engine is connected: a publish
        before that would be refused."""
        url = "http://127.0.0.1:%d/readyz" % self.admin_port
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("%s never became ready (%s)" % (self.tag or "sidecar", url))

    def stop(self):
        stop_process(self.proc)
        self.proc = None

    def pids(self):
        return [self.proc.pid]

    def sub_url(self, per_topic, scheme="http", port=None):
        return "%s://127.0.0.1:%d/events?topic=bench.%s" % (scheme, port or self.sse_port,
                                                             "{i}" if per_topic else "one")

    def tls_sub_url(self, per_topic):
        return self.sub_url(per_topic, "https", self.tls_port)

    def sub_flags(self):
        return []

    def pub_args(self, per_topic):
        return ["--target", "sidecar-socket:%s" % self.socket,
                "--topics", "bench.{i}" if per_topic else "bench.one"]


class Nchan:
    name = "nchan"

    def __init__(self, tmp):
        self.prefix = tmp / "nchan"
        self.conf = self.prefix / "nchan.conf"
        self.port = NCHAN_PORT
        self.tls_port = None

    def render(self):
        return (ROOT / "bench" / "nchan.conf.in").read_text().replace("NCHAN_PREFIX", str(self.prefix))

    def start(self):
        (self.prefix / "logs").mkdir(parents=True, exist_ok=True)
        text = self.render()
        self.conf.write_text(text)
        subprocess.run(["nginx", "-c", str(self.conf), "-p", str(self.prefix) + "/"], check=True)
        wait_port(self.port)
        self.wait_workers(int(re.search(r"worker_processes (\d+);", text).group(1)))

    def wait_workers(self, workers, timeout=10.0):
        """The master answers before it has forked every worker: a memory baseline read then
        would leave out the workers, and count them against the connections."""
        deadline = time.time() + timeout
        while len(self.pids()) < 1 + workers:
            if time.time() > deadline:
                raise RuntimeError("nginx (%s) did not start its %d workers" % (self.prefix.name, workers))
            time.sleep(0.05)

    def stop(self):
        if self.conf.exists():
            subprocess.run(["nginx", "-s", "stop", "-c", str(self.conf), "-p", str(self.prefix) + "/"],
                           stderr=subprocess.DEVNULL)
            for _ in range(100):
                if not self.pids():
                    return
                time.sleep(0.1)
            for pid in self.pids():  # still running after 10 s (its pid file is still there)
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass

    def pids(self):
        # The master from its pid file, and its workers (where connections live).
        try:
            master = int((self.prefix / "nginx.pid").read_text().strip())
        except (OSError, ValueError):
            return []
        children = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()
        return [master] + [int(c) for c in children]

    def sub_url(self, per_topic, scheme="http", port=None):
        base = "%s://127.0.0.1:%d" % (scheme, port or self.port)
        return base + ("/subm?id={i}" if per_topic else "/sub")

    def tls_sub_url(self, per_topic):
        return self.sub_url(per_topic, "https", self.tls_port)

    def sub_flags(self):
        return []

    def pub_args(self, per_topic):
        return ["--target", "nchan-http:http://127.0.0.1:%d" % self.port,
                "--topics", "{i}" if per_topic else "one"]


class NchanTls(Nchan):
    """Nchan with bench/nchan-tls.conf.in: the plain server of the other scenarios (for the
    publisher) and a TLS one with HTTP/2 on NCHAN_TLS_PORT serving `certs`."""

    def __init__(self, tmp, certs):
        super().__init__(tmp)
        self.prefix = tmp / "nchan-tls"
        self.conf = self.prefix / "nchan.conf"
        self.tls_port = NCHAN_TLS_PORT
        self.certs = certs

    def render(self):
        text = (ROOT / "bench" / "nchan-tls.conf.in").read_text()
        for key, value in (("NCHAN_PREFIX", str(self.prefix)), ("NCHAN_CERT", str(self.certs.cert)),
                           ("NCHAN_KEY", str(self.certs.key))):
            text = text.replace(key, value)
        return text

    def start(self):
        super().start()
        wait_port(self.tls_port)


class Secure:
    """A server (Sidecar, NchanTls) as its subscribers reach it over TLS: https:// URLs, the
    run's CA trusted (`sse-loadgen subscribe --cacert`), and with `streams` HTTP/2 with that many
    streams per connection. Everything else is the server's own, so a scenario function runs
    unchanged on it."""

    def __init__(self, server, certs, streams=None):
        self.server = server
        self.name = server.name
        self.certs = certs
        self.streams = streams

    def start(self):
        self.server.start()

    def stop(self):
        self.server.stop()

    def pids(self):
        return self.server.pids()

    def pub_args(self, per_topic):
        return self.server.pub_args(per_topic)

    def sub_url(self, per_topic):
        return self.server.tls_sub_url(per_topic)

    def sub_flags(self):
        flags = ["--cacert", str(self.certs.ca)]
        if self.streams:
            flags += ["--http2", "--streams-per-connection", str(self.streams)]
        return flags

    def skip_reason(self):
        """Why the scenario cannot run on this server, or None: an HTTP/2 scenario needs h2
        through ALPN, asked once per server (while it runs)."""
        if not self.streams:
            return None
        if not hasattr(self.server, "offers_h2"):
            self.server.offers_h2 = offers_h2(self.server.tls_port, self.certs)
        return None if self.server.offers_h2 else "%s without HTTP/2" % self.name


class NchanNode(Nchan):
    """One nginx of a Nchan cluster: bench/nchan-redis.conf.in rendered into a prefix of its
    own, listening on its own port, with its channels in the cluster's redis-server."""

    def __init__(self, tmp, tag, port, redis_port):
        super().__init__(tmp)
        self.prefix = tmp / ("nchan-" + tag)
        self.conf = self.prefix / "nginx.conf"
        self.port = port
        self.redis_port = redis_port

    def render(self):
        text = (ROOT / "bench" / "nchan-redis.conf.in").read_text()
        for key, value in (("@DIR@", str(self.prefix)), ("@PORT@", str(self.port)),
                           ("@REDIS@", "127.0.0.1:%d" % self.redis_port)):
            text = text.replace(key, value)
        return text

    def start(self):
        super().start()
        self.wait_ready()

    def wait_ready(self, timeout=10.0):
        """Until its Redis connection is up, Nchan answers 503 to subscribers (and publishers):
        wait until the channel's status (GET on the publisher location: 404 for a channel not
        published to yet) comes from Redis."""
        url = "http://127.0.0.1:%d/pub" % self.port
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=1):
                    return
            except urllib.error.HTTPError as e:
                if e.code < 500:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("nchan %s never became ready (%s)" % (self.prefix.name, url))


class RedisServer:
    """A fresh redis-server without persistence, on a port of its own, data in `dir`."""

    def __init__(self, dir):
        self.dir = dir
        self.port = free_port()
        self.proc = None

    def start(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir)],
            stdout=open(self.dir / "redis.log", "ab"), stderr=subprocess.STDOUT)
        wait_port(self.port, proc=self.proc)

    def stop(self):
        stop_process(self.proc)
        self.proc = None

    def cpu_ms(self):
        """CPU time of all its threads. /proc/PID/task/*/schedstat counts nanoseconds, where
        utime+stime in /proc/PID/stat count 10 ms ticks, as coarse as a whole small burst."""
        pid = self.proc.pid
        try:
            return sum(int(Path("/proc/%d/task/%s/schedstat" % (pid, t)).read_text().split()[0])
                       for t in os.listdir("/proc/%d/task" % pid)) / 1e6
        except (OSError, ValueError, IndexError):
            fields = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")

    def info_memory(self):
        """INFO memory, as {field: text}."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"INFO memory\r\n")
            def more(data):
                chunk = s.recv(65536)
                if not chunk:
                    raise RuntimeError("redis-server closed the connection")
                return data + chunk
            data = b""
            while b"\r\n" not in data:
                data = more(data)
            head, body = data.split(b"\r\n", 1)  # a bulk string: $<length>, then the text
            if not head.startswith(b"$"):
                raise RuntimeError("INFO memory: %r" % head[:200])
            length = int(head[1:])
            while len(body) < length:
                body = more(body)
        lines = body[:length].decode().splitlines()
        return dict(l.split(":", 1) for l in lines if ":" in l and not l.startswith("#"))

    def used_memory(self):
        return int(self.info_memory()["used_memory"])


class RedisMeter(Background):
    """Redis's CPU time and memory over one measured stretch. Made when the subscribers have
    connected, it reads Redis's idle CPU rate until start(), just before the first publish;
    finish(until_ns) once everything is delivered. The CPU time is read every RSS_INTERVAL_S
    on a thread meanwhile, so the stretch can end at the last delivery even when the
    subscribers linger after it."""

    def __init__(self, redis):
        super().__init__()
        self.redis = redis
        self.samples = []
        self.idle_from = (time.time_ns(), redis.cpu_ms())

    def _run(self):
        while True:
            self.samples.append((time.time_ns(), self.redis.cpu_ms()))
            if self._stop.wait(RSS_INTERVAL_S):
                return

    def start(self):
        info = self.redis.info_memory()
        self.used_before = int(info["used_memory"])
        self.dataset_before = int(info["used_memory_dataset"])
        self.at_start = (time.time_ns(), self.redis.cpu_ms())
        self.idle_ms_per_s = (self.at_start[1] - self.idle_from[1]) / ((self.at_start[0] - self.idle_from[0]) / 1e9)
        return super().start()

    def finish(self, until_ns):
        """CPU from start() to the first reading at or after until_ns, as it is and less the
        idle rate over that time (Redis's cron and the servers' keep-alives, which run whether
        or not events flow); used_memory_dataset now (what Redis keeps, without the clients'
        buffers, which it resizes on its own schedule) and used_memory at its peak (Redis's own
        used_memory_peak: the server is fresh), less their values at start()."""
        self.stop()
        t, cpu = next(((t, c) for t, c in self.samples if t >= until_ns), (None, None))
        if cpu is None:
            t, cpu = time.time_ns(), self.redis.cpu_ms()
        used = cpu - self.at_start[1]
        info = self.redis.info_memory()
        return {"redis_cpu_ms": used,
                "redis_cpu_net_ms": used - self.idle_ms_per_s * (t - self.at_start[0]) / 1e9,
                "redis_idle_ms_per_s": self.idle_ms_per_s,
                "redis_dataset_growth_b": int(info["used_memory_dataset"]) - self.dataset_before,
                "redis_used_memory_peak_growth_b": int(info["used_memory_peak"]) - self.used_before}


class Cluster:
    """Two nodes of one server kind (A, B) sharing one redis-server, started fresh for each
    scenario and stopped after it. Events are published on node A; node B is the remote one,
    reached only through Redis."""

    def __init__(self, name, tmp, make_node):
        self.name = name
        self.tmp = tmp
        self.make_node = make_node  # (tag, redis port) -> node
        self.redis = None
        self.nodes = []
        self.runs = 0

    def start(self):
        self.runs += 1
        self.redis = RedisServer(self.tmp / ("redis-%s-%d" % (self.name, self.runs)))
        self.redis.start()
        self.nodes = [self.make_node("a", self.redis.port), self.make_node("b", self.redis.port)]
        for node in self.nodes:
            node.start()

    def stop(self):
        # Every process goes, whatever failed before: nodes first (they would reconnect to
        # Redis), then Redis.
        try:
            for node in reversed(self.nodes):
                try:
                    node.stop()
                except Exception as e:
                    log("stopping a %s node failed: %s" % (self.name, e))
        finally:
            if self.redis:
                self.redis.stop()
            self.nodes = []
            self.redis = None

    def pids(self):
        return [pid for node in self.nodes for pid in node.pids()]

    def warm_up(self, lg, events=WARM_UP_EVENTS):
        """Publishes a few events on node A to another topic (sidecar bench.0, Nchan channel 0)
        before a scenario measures anything: Redis's first publish costs it some 200-400 KB and
        a script compilation once, which would otherwise be counted against the scenario's
        events."""
        lg.publish(self.nodes[0], True, ["--events", str(events), "--topic-count", "1", "--size", "64"])


class Loadgen:
    def __init__(self, build, tmp):
        self.bin = str(build / "sse-loadgen")
        self.tmp = tmp

    def subscribe(self, url, connections, extra=()):
        ready = self.tmp / ("ready-%d" % time.monotonic_ns())
        args = [self.bin, "subscribe", "--url", url, "--connections", str(connections),
                "--sources", "8", "--ready-file", str(ready), *extra]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=open(self.tmp / "loadgen.log", "ab"),
                                text=True)
        deadline = time.time() + 120
        while not ready.exists():
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise RuntimeError("subscribers never became ready: " + " ".join(args))
            time.sleep(0.05)
        return proc

    @staticmethod
    def kill(procs):
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    @staticmethod
    def finish(proc, timeout=180):
        out, _ = proc.communicate(timeout=timeout)
        lines = [l for l in out.splitlines() if l.startswith("{")]
        return json.loads(lines[-1])

    def publish(self, server, per_topic, extra, timeout=300):
        args = [self.bin, "publish", *server.pub_args(per_topic), *extra]
        out = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
        lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
        if out.returncode != 0 or not lines:
            raise RuntimeError("publisher failed: %s\n%s" % (" ".join(args), out.stderr[-2000:]))
        return json.loads(lines[-1])


# ---- scenarios: each returns {metric: value} for one server ----

def mb(kib):
    return kib * 1024 / 1e6


def memory_peak_after(samples, baseline, last, held_from, lingered):
    """The peak of RssSampler samples and the "after" reading AFTER_S past the last delivery
    (`last`), None when the subscribers did not linger. They close their streams AFTER_S + 1
    after `held_from` (when the first of them had all its events). The peak is over
    everything from the first publish to the "after" reading (or to the end, when the run did
    not complete and so did not linger with its streams open)."""
    held_until = held_from + (AFTER_S + 1) * 1e9
    after = next((kib for t, kib in samples if last + AFTER_S * 1e9 <= t < held_until),
                 None) if lingered else None
    until = last + AFTER_S * 1e9 if after is not None else float("inf")
    peak = max([kib for t, kib in samples if t <= until] + [baseline])
    return peak, after


def burst(lg, server, subs, events, size):
    """Events back to back to `subs` subscribers of one topic: deliveries/s, first publish to last
    delivery, latency of every delivery, and the server's memory: with the idle subscribers
    connected (baseline), at its peak during the burst, and AFTER_S after the last delivery with
    the subscribers still connected (the loadgen lingers for that)."""
    # Allow for a slow server: 20k deliveries/s is well below either server's rate on this kind
    # of machine (and 10M deliveries take 500 s at that rate).
    timeout = max(120, subs * events // 20000)
    proc = lg.subscribe(server.sub_url(False), subs,
                        ["--expect-events", str(events), "--timeout", str(timeout),
                         "--linger", str(AFTER_S + 1), *server.sub_flags()])
    try:
        time.sleep(1.0)  # let every stream settle past its first bytes
        pids = server.pids()
        baseline = rss_kib(pids)
        sampler = RssSampler(pids).start()
        try:
            pub = lg.publish(server, False, ["--events", str(events), "--size", str(size),
                                             "--timeout", str(timeout)], timeout + 60)
            r = lg.finish(proc, timeout + AFTER_S + 60)
        finally:
            sampler.stop()
    except Exception:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        raise
    last = r["last_event_ts"]
    peak, after = memory_peak_after(sampler.samples, baseline, last, last, r["lingered"])
    lat = r["latency_ns"]
    return {"deliveries_per_sec": r["deliveries_per_sec"],
            "first_publish_to_last_delivery_ms":
                (last - pub["first_send_ts"]) / 1e6 if r["events_received"] else None,
            "p50_ms": lat["p50"] / 1e6, "p99_ms": lat["p99"] / 1e6,
            "rss_growth_peak_mb": mb(peak - baseline),
            "rss_growth_after_mb": mb(after - baseline) if after is not None else None,
            "rss_baseline_mb": mb(baseline),
            "received": r["events_received"], "expected": r["expected"], "failed": r["failed"],
            **({"failure_reasons": r["failure_reasons"]} if r["failed"] else {})}


def steady(lg, server, tmp, subs=10000, rate=5, seconds=10):
    csv = tmp / ("latency-%s.csv" % server.name)
    events = rate * seconds
    proc = lg.subscribe(server.sub_url(False), subs,
                        ["--expect-events", str(events), "--timeout", "120", "--latency-csv", str(csv)])
    time.sleep(1.0)
    lg.publish(server, False, ["--events", str(events), "--rate", str(rate), "--size", "64"])
    r = lg.finish(proc)
    lat = r["latency_ns"]
    return {"p50_ms": lat["p50"] / 1e6, "p99_ms": lat["p99"] / 1e6, "max_ms": lat["max"] / 1e6,
            "received": r["events_received"], "expected": r["expected"], "csv": str(csv)}


def many_topics(lg, server, subs=10000, events=100000):
    # Each subscriber on its own topic; events go to random topics, so the expected count per
    # connection is not fixed: run until the publisher is done and deliveries stop.
    proc = lg.subscribe(server.sub_url(True), subs, ["--timeout", "120", "--expect-events", "0"])
    time.sleep(1.0)
    pub = lg.publish(server, True, ["--events", str(events), "--topic-count", str(subs),
                                    "--random-topics", "--seed", "7", "--size", "64"])
    time.sleep(2.0)
    proc.send_signal(signal.SIGINT)
    r = lg.finish(proc)
    return {"deliveries_per_sec": r["deliveries_per_sec"], "received": r["events_received"],
            "published_ok": pub.get("ok"), "failed": r["failed"]}


def none_connected(r):
    """An error for a run in which no subscriber connected: its figures would measure nothing
    (a memory growth divided by no connection, a storm over before it began)."""
    return RuntimeError("no subscriber connected (%s)" % ", ".join(
        "%s: %d" % kv for kv in sorted(r["failure_reasons"].items())))


def with_failures(out, r):
    """`out`, plus the failures of the loadgen report `r` when there were any."""
    if r["failed"]:
        out.update({"failed": r["failed"], "failure_reasons": r["failure_reasons"]})
    return out


def idle_memory(lg, server, subs=10000):
    before = rss_kib(server.pids())
    proc = lg.subscribe(server.sub_url(False), subs, ["--idle", "--timeout", "60", *server.sub_flags()])
    time.sleep(2.0)
    after = rss_kib(server.pids())
    proc.send_signal(signal.SIGINT)
    r = lg.finish(proc)
    if not r["connected"]:
        raise none_connected(r)
    return with_failures({"kib_per_conn": (after - before) / r["connected"], "rss_before_kib": before,
                          "rss_after_kib": after, "connected": r["connected"]}, r)


def connect_storm(lg, server, subs=19000):
    proc = lg.subscribe(server.sub_url(False), subs, ["--idle", "--timeout", "60", *server.sub_flags()])
    proc.send_signal(signal.SIGINT)
    r = lg.finish(proc)
    if not r["connected"]:
        raise none_connected(r)
    # The client's CPU time, handshakes included: over TLS its half of every handshake runs on its
    # one thread beside the server, so the storm's time includes it, for both servers alike.
    return with_failures({"all_streaming_ms": r["time_to_all_connected_ms"], "failed": r["failed"],
                          "connected": r["connected"],
                          "loadgen_cpu_ms": r["loadgen_cpu_user_ms"] + r["loadgen_cpu_sys_ms"]}, r)


def single(lg, server, events=20):
    proc = lg.subscribe(server.sub_url(False), 1, ["--expect-events", str(events), "--timeout", "60"])
    time.sleep(0.5)
    lg.publish(server, False, ["--events", str(events), "--rate", "1", "--size", "64"])
    r = lg.finish(proc)
    lat = r["latency_ns"]
    return {"p50_ms": lat["p50"] / 1e6, "p99_ms": lat["p99"] / 1e6, "received": r["events_received"]}


def publish_rate(lg, pub_node, sub_node, events, subs=5, redis=None):
    """One publisher as fast as it can (the sidecar's socket; Nchan's HTTP publisher, 4
    keep-alive connections) on pub_node, a few subscribers of the topic on sub_node: events
    accepted per second, from the first send to the last reply. With a RedisServer, Redis's
    CPU and memory too (cluster_publish_rate)."""
    timeout = max(60, events // 1000)
    procs = [lg.subscribe(sub_node.sub_url(False), subs, ["--expect-events", str(events),
                                                          "--timeout", str(timeout)])]
    meter = None
    try:
        meter = RedisMeter(redis) if redis else None
        time.sleep(1.0)
        try:
            if meter:
                meter.start()
            pub = lg.publish(pub_node, False, ["--events", str(events), "--size", "64",
                                               "--timeout", str(timeout)], timeout + 60)
            r = lg.finish(procs[0], timeout + 60)
        finally:
            if meter:
                meter.stop()
    finally:
        Loadgen.kill(procs)
    out = {"accepted_per_sec": pub["ok"] / (pub["elapsed_ms"] / 1e3) if pub["elapsed_ms"] > 0 else 0,
           "acknowledged": pub["ok"], "events": events, "publish_errors": pub["errors"],
           "publish_ms": pub["elapsed_ms"],
           "first_publish_to_last_delivery_ms":
               (r["last_event_ts"] - pub["first_send_ts"]) / 1e6 if r["events_received"] else None,
           "received": r["events_received"], "expected": r["expected"], "failed": r["failed"]}
    if meter:
        out.update(redis_figures(meter, max(r["last_event_ts"], pub["last_send_ts"]), events))
    return out


# ---- cluster scenarios: `cl` is a Cluster; events published on node A ----

REMOTE_SOURCE_BASE = "127.0.0.10"  # node B's subscribers bind 127.0.0.10-17, node A's 127.0.0.2-9


def subscribe_both(lg, cl, subs, extra, csv_name=None):
    """Half the subscribers on node A, half on node B, one loadgen process per node so each
    node's deliveries are timed apart. Returns [proc A, proc B] and their latency CSVs."""
    procs, csvs = [], []
    try:
        for i, node in enumerate(cl.nodes):
            more = list(extra)
            if i == 1:
                more += ["--source-base", REMOTE_SOURCE_BASE]
            if csv_name:
                csvs.append(lg.tmp / ("%s-%s-%s.csv" % (csv_name, cl.name, "ab"[i])))
                more += ["--latency-csv", str(csvs[-1])]
            procs.append(lg.subscribe(node.sub_url(False), subs // 2 if i == 0 else subs - subs // 2, more))
    except Exception:
        Loadgen.kill(procs)
        raise
    return procs, csvs


def redis_figures(meter, last_ns, events):
    # A reading two sampling intervals past the last delivery, so Redis's part of it is in.
    m = meter.finish(last_ns + 2 * RSS_INTERVAL_S * 1e9)
    return {"redis_cpu_ms": m["redis_cpu_ms"], "redis_idle_ms_per_s": m["redis_idle_ms_per_s"],
            "redis_cpu_ms_per_event": m["redis_cpu_net_ms"] / events,
            "redis_bytes_per_event": m["redis_dataset_growth_b"] / events,
            "redis_peak_growth_kb": m["redis_used_memory_peak_growth_b"] / 1e3}


def weighted_percentiles(csvs, reports, ps):
    """Percentiles of every delivery, from the processes' latency CSVs: each holds an evenly
    spaced sample of its deliveries, so a row stands for received/rows of them."""
    rows = []
    for path, r in zip(csvs, reports):
        try:
            lat = [int(l.split(",")[1]) for l in Path(path).read_text().splitlines()[1:] if l]
        except OSError:
            lat = []
        if lat:
            w = r["events_received"] / len(lat)
            rows += [(v, w) for v in lat]
    if not rows:
        return [None for _ in ps]
    rows.sort()
    total = sum(w for _, w in rows)
    out = []
    for p in ps:
        acc, target = 0.0, p * total
        for v, w in rows:
            acc += w
            if acc >= target:
                out.append(v / 1e6)
                break
        else:
            out.append(rows[-1][0] / 1e6)
    return out


def per_node_latency(reports):
    out = {}
    for tag, r in zip("ab", reports):
        lat = r["latency_ns"]
        if lat["count"]:
            out.update({"p50_%s_ms" % tag: lat["p50"] / 1e6, "p99_%s_ms" % tag: lat["p99"] / 1e6,
                        "max_%s_ms" % tag: lat["max"] / 1e6})
    return out


def totals(reports):
    reasons = {}
    for r in reports:
        for reason, count in {**r.get("failure_reasons", {}), **r.get("disconnect_reasons", {})}.items():
            reasons[reason] = reasons.get(reason, 0) + count
    return {"received": sum(r["events_received"] for r in reports),
            "expected": sum(r["expected"] for r in reports),
            "failed": sum(r["failed"] + r.get("disconnected_early", 0) for r in reports),
            "failure_reasons": reasons}


def cluster_burst(lg, cl, subs, events, size):
    """burst() across two nodes: the same events, the subscribers split over A and B."""
    timeout = max(120, subs * events // 20000)
    cl.warm_up(lg)
    procs, csvs = subscribe_both(lg, cl, subs, ["--expect-events", str(events), "--timeout", str(timeout),
                                                "--linger", str(AFTER_S + 1)], "burst")
    try:
        meter = RedisMeter(cl.redis)  # its idle reading runs while the streams settle
        time.sleep(1.0)
        pids = cl.pids()
        baseline = rss_kib(pids)
        sampler = RssSampler(pids).start()
        try:
            meter.start()
            pub = lg.publish(cl.nodes[0], False, ["--events", str(events), "--size", str(size),
                                                  "--timeout", str(timeout)], timeout + 60)
            reports = [lg.finish(p, timeout + AFTER_S + 60) for p in procs]
        finally:
            sampler.stop()
            meter.stop()
    finally:
        Loadgen.kill(procs)
    got = [r for r in reports if r["events_received"]]
    first = min((r["first_event_ts"] for r in got), default=0)
    last = max((r["last_event_ts"] for r in got), default=0)
    lingered = all(r["lingered"] for r in reports)
    held_from = min(r["last_event_ts"] for r in reports)
    peak, after = memory_peak_after(sampler.samples, baseline, last, held_from, lingered)
    out = totals(reports)
    p50, p99 = weighted_percentiles(csvs, reports, (0.50, 0.99))
    out.update({
        "deliveries_per_sec": out["received"] / ((last - first) / 1e9) if last > first else None,
        "first_publish_to_last_delivery_ms": (last - pub["first_send_ts"]) / 1e6 if got else None,
        "p50_ms": p50, "p99_ms": p99, **per_node_latency(reports),
        "rss_baseline_mb": mb(baseline), "rss_growth_peak_mb": mb(peak - baseline),
        "rss_growth_after_mb": mb(after - baseline) if after is not None else None,
        **redis_figures(meter, last, events)})
    return out


def cluster_steady(lg, cl, subs, rate, seconds):
    """steady() across two nodes: latency on node A (local) and on node B (through Redis)."""
    events = rate * seconds
    cl.warm_up(lg)
    procs, _ = subscribe_both(lg, cl, subs, ["--expect-events", str(events), "--timeout", "120"])
    try:
        meter = RedisMeter(cl.redis)
        time.sleep(1.0)
        try:
            meter.start()
            lg.publish(cl.nodes[0], False, ["--events", str(events), "--rate", str(rate), "--size", "64"])
            reports = [lg.finish(p) for p in procs]
        finally:
            meter.stop()
    finally:
        Loadgen.kill(procs)
    out = totals(reports)
    out.update(per_node_latency(reports))
    out.update(redis_figures(meter, max(r["last_event_ts"] for r in reports), events))
    return out


def cluster_publish_rate(lg, cl, events, subs=5):
    cl.warm_up(lg)
    return publish_rate(lg, cl.nodes[0], cl.nodes[1], events, subs, cl.redis)


def sig3(v):
    """Three significant digits, without an exponent for everyday magnitudes: 1234 -> 1230."""
    return "%g" % float("%.3g" % v)


def one_decimal(v):
    return "%.1f" % v


def per_second(v):
    for scale, unit in ((1e6, " M"), (1e3, " k")):
        if v >= scale:
            return sig3(v / scale) + unit
    return sig3(v)


# The figures of a burst, each a row of its own table: key, label, higher is better (None: no
# ratio), the smallest value on both sides a ratio is given for, format.
BURST_FIGURES = [
    ("deliveries_per_sec", "deliveries/s (first to last delivery)", True, 0, per_second),
    ("first_publish_to_last_delivery_ms", "first publish to last delivery (ms)", False, 0, sig3),
    ("p50_ms", "delivery latency p50 (ms)", False, 0, sig3),
    ("p99_ms", "delivery latency p99 (ms)", False, 0, sig3),
    ("rss_baseline_mb", "resident memory with the idle subscribers (MB)", None, 0, one_decimal),
    # Growth below 1 MB is noise (a few pages here or there): no ratio for it.
    ("rss_growth_peak_mb", "memory growth at the peak of the burst (MB)", False, 1.0, one_decimal),
    ("rss_growth_after_mb", "memory growth %g s after the last delivery (MB)" % AFTER_S, False, 1.0,
     one_decimal),
]


def ms3(v):
    return sig3(v) if v >= 0.001 else "%.2g" % v


# The figures of the cluster scenarios, as BURST_FIGURES plus the key of the same figure in the
# single-node scenario (Scenario.single), shown beside it; None where there is none.
REDIS_FIGURES = [
    ("redis_cpu_ms", "Redis CPU, first publish to last delivery (ms)", False, 0, sig3, None),
    ("redis_idle_ms_per_s", "Redis CPU while idle before the first publish (ms/s)", None, 0, sig3, None),
    ("redis_cpu_ms_per_event", "Redis CPU per event, beyond its idle rate (ms)", False, 0, ms3, None),
]
CLUSTER_BURST_FIGURES = [
    ("deliveries_per_sec", "deliveries/s, both nodes (first to last delivery)", True, 0, per_second,
     "deliveries_per_sec"),
    ("first_publish_to_last_delivery_ms", "first publish to last delivery (ms)", False, 0, sig3,
     "first_publish_to_last_delivery_ms"),
    ("p50_ms", "delivery latency p50, both nodes (ms)", False, 0, sig3, "p50_ms"),
    ("p99_ms", "delivery latency p99, both nodes (ms)", False, 0, sig3, "p99_ms"),
    ("p50_a_ms", "delivery latency p50 on node A, the publisher's (ms)", False, 0, sig3, None),
    ("p99_a_ms", "delivery latency p99 on node A (ms)", False, 0, sig3, None),
    ("p50_b_ms", "delivery latency p50 on node B, remote (ms)", False, 0, sig3, None),
    ("p99_b_ms", "delivery latency p99 on node B (ms)", False, 0, sig3, None),
    ("rss_baseline_mb", "resident memory of both nodes with the idle subscribers (MB)", None, 0, one_decimal,
     "rss_baseline_mb"),
    ("rss_growth_peak_mb", "memory growth of both nodes at the peak of the burst (MB)", False, 1.0, one_decimal,
     "rss_growth_peak_mb"),
    ("rss_growth_after_mb", "memory growth of both nodes %g s after the last delivery (MB)" % AFTER_S, False,
     1.0, one_decimal, "rss_growth_after_mb"),
    *REDIS_FIGURES,
    ("redis_bytes_per_event", "Redis memory kept per event (bytes of used_memory_dataset)", False, 0, sig3,
     None),
    # As for the servers, growth below 1 MB is noise: no ratio for it.
    ("redis_peak_growth_kb", "Redis memory growth at its peak (KB of used_memory)", False, 1000, sig3, None),
]
CLUSTER_STEADY_FIGURES = [
    ("p50_b_ms", "delivery latency p50 on node B, remote (ms)", False, 0, sig3, "p50_ms"),
    ("p99_b_ms", "delivery latency p99 on node B (ms)", False, 0, sig3, "p99_ms"),
    ("max_b_ms", "delivery latency max on node B (ms)", False, 0, sig3, "max_ms"),
    ("p50_a_ms", "delivery latency p50 on node A, the publisher's (ms)", False, 0, sig3, "p50_ms"),
    ("p99_a_ms", "delivery latency p99 on node A (ms)", False, 0, sig3, "p99_ms"),
    ("max_a_ms", "delivery latency max on node A (ms)", False, 0, sig3, "max_ms"),
    *REDIS_FIGURES,
]
CLUSTER_PUBLISH_FIGURES = [
    ("accepted_per_sec", "events accepted/s (first send to last reply)", True, 0, per_second,
     "accepted_per_sec"),
    ("first_publish_to_last_delivery_ms", "first publish to last delivery on node B (ms)", False, 0, sig3,
     "first_publish_to_last_delivery_ms"),
    *REDIS_FIGURES,
    # As for the servers, growth below 1 MB is noise: no ratio for it.
    ("redis_peak_growth_kb", "Redis memory growth at its peak (KB of used_memory)", False, 1000, sig3, None),
]


@dataclass
class Scenario:
    name: str
    run: Callable  # (loadgen, server, tmp dir, quick) -> {metric: value}
    metric: str  # the headline
    higher: bool  # whether a higher headline is better
    desc: str
    figures: list = None  # rows of a table of its own below the summary, as BURST_FIGURES
    cluster: bool = False  # runs on two nodes and Redis (Cluster); its table goes under "Cluster"
    single: str = None  # cluster: the single-node scenario whose figures go beside (CLUSTER_*)
    target: tuple = None  # cluster: (key, factor, text): the goal, stated in the report only
    tls: bool = False  # subscribers over TLS (Secure); its tables go under "TLS"
    h2_streams: int = None  # tls: HTTP/2 with this many streams per connection; None: HTTP/1.1


SCENARIOS = [
    # The stamp ("t=<ns>;") takes 22 bytes: 30-byte events hold it with room to spare.
    Scenario("burst", lambda lg, s, tmp, q: burst(lg, s, 2000 if q else 10000, 100, 30),
             "deliveries_per_sec", True,
             "burst fan-out: 10k subscribers, 1 topic, 100 events of 30 bytes back to back (deliveries/s)",
             BURST_FIGURES),
    Scenario("burst_4k", lambda lg, s, tmp, q: burst(lg, s, 2000 if q else 10000, 100, 4096),
             "deliveries_per_sec", True,
             "burst of large events: 10k subscribers, 1 topic, 100 events of 4 KB back to back (deliveries/s)",
             BURST_FIGURES),
    Scenario("burst_1000", lambda lg, s, tmp, q: burst(lg, s, 2000 if q else 10000, 1000, 30),
             "deliveries_per_sec", True,
             "long burst: 10k subscribers, 1 topic, 1000 events of 30 bytes back to back, 10M deliveries (deliveries/s)",
             BURST_FIGURES),
    Scenario("steady", lambda lg, s, tmp, q: steady(lg, s, tmp, 2000 if q else 10000, 5, 4 if q else 10),
             "p99_ms", False, "steady fan-out: 10k subscribers, 5 events/s for 10 s (p99 latency, ms)"),
    Scenario("many_topics", lambda lg, s, tmp, q: many_topics(lg, s, 2000 if q else 10000, 10000 if q else 100000),
             "deliveries_per_sec", True,
             "many topics: 10k subscribers on own topics, 100k events to random topics (deliveries/s)"),
    Scenario("idle_memory", lambda lg, s, tmp, q: idle_memory(lg, s, 2000 if q else 10000),
             "kib_per_conn", False, "idle memory: resident KiB per idle connection at 10k"),
    Scenario("connect_storm", lambda lg, s, tmp, q: connect_storm(lg, s, 2000 if q else 19000),
             "all_streaming_ms", False, "connect storm: 19k connections at once (ms until all stream; failures)"),
    Scenario("single", lambda lg, s, tmp, q: single(lg, s, 5 if q else 20),
             "p99_ms", False, "single subscriber, 1 event/s (p99 latency, ms)"),
    Scenario("publish_rate", lambda lg, s, tmp, q: publish_rate(lg, s, s, 2000 if q else 20000),
             "accepted_per_sec", True,
             "publish rate: one publisher as fast as it can, 20k events, 5 subscribers (accepted events/s)"),
    # Over TLS, the single-node scenarios above whose figures TLS changes: what a connection
    # holds, what a delivery costs, what a handshake costs.
    Scenario("tls_burst", lambda lg, s, tmp, q: burst(lg, s, 2000 if q else 10000, 100, 30),
             "deliveries_per_sec", True,
             "TLS burst fan-out: 10k subscribers over HTTPS (HTTP/1.1), 1 topic, 100 events of 30 bytes back "
             "to back (deliveries/s)",
             BURST_FIGURES, tls=True),
    Scenario("tls_idle_memory", lambda lg, s, tmp, q: idle_memory(lg, s, 2000 if q else 10000),
             "kib_per_conn", False, "TLS idle memory: resident KiB per idle HTTPS connection at 10k", tls=True),
    Scenario("tls_connect_storm", lambda lg, s, tmp, q: connect_storm(lg, s, 2000 if q else 19000),
             "all_streaming_ms", False,
             "TLS connect storm: 19k HTTPS connections at once, a full handshake each (ms until all stream; "
             "failures)", tls=True),
    Scenario("h2_burst", lambda lg, s, tmp, q: burst(lg, s, 2000 if q else 10000, 100, 30),
             "deliveries_per_sec", True,
             "HTTP/2 burst fan-out: 10k subscribers, one stream per connection, 1 topic, 100 events of 30 bytes "
             "back to back (deliveries/s)",
             BURST_FIGURES, tls=True, h2_streams=1),
    Scenario("h2_idle_memory", lambda lg, s, tmp, q: idle_memory(lg, s, 2000 if q else 10000),
             "kib_per_conn", False,
             "HTTP/2 idle memory: resident KiB per idle connection (one stream each) at 10k", tls=True,
             h2_streams=1),
    Scenario("h2_connect_storm", lambda lg, s, tmp, q: connect_storm(lg, s, 2000 if q else 19000),
             "all_streaming_ms", False,
             "HTTP/2 connect storm: 19k connections at once, one stream each (ms until all stream; failures)",
             tls=True, h2_streams=1),
    Scenario("h2_shared_burst", lambda lg, s, tmp, q: burst(lg, s, 2000 if q else 10000, 100, 30),
             "deliveries_per_sec", True,
             "HTTP/2 shared burst: 10k subscribers as %d streams on each of 1k connections (tabs of one "
             "browser), 1 topic, 100 events of 30 bytes back to back (deliveries/s)" % H2_SHARED_STREAMS,
             BURST_FIGURES, tls=True, h2_streams=H2_SHARED_STREAMS),
    Scenario("cluster_burst", lambda lg, c, tmp, q: cluster_burst(lg, c, 2000 if q else 10000, 100, 30),
             "deliveries_per_sec", True,
             "cluster burst: 2 nodes and Redis, 10k subscribers (5k per node), 100 events of 30 bytes "
             "back to back on node A (deliveries/s)",
             CLUSTER_BURST_FIGURES, True, "burst",
             ("deliveries_per_sec", 10, "total deliveries/s at least 10× Nchan's")),
    Scenario("cluster_steady", lambda lg, c, tmp, q: cluster_steady(lg, c, 2000 if q else 10000, 5, 4 if q else 10),
             "p99_b_ms", False,
             "cluster steady: 2 nodes and Redis, 10k subscribers (5k per node), 5 events/s for 10 s on "
             "node A (p99 latency on node B, ms)",
             CLUSTER_STEADY_FIGURES, True, "steady",
             ("p99_b_ms", 0.7, "p99 latency on the remote node B at most 0.7× Nchan's")),
    Scenario("cluster_publish_rate", lambda lg, c, tmp, q: cluster_publish_rate(lg, c, 2000 if q else 20000),
             "accepted_per_sec", True,
             "cluster publish rate: one publisher on node A as fast as it can, 20k events, 5 subscribers "
             "on node B (accepted events/s)",
             CLUSTER_PUBLISH_FIGURES, True, "publish_rate",
             ("accepted_per_sec", 10, "one socket publisher at least 10× Nchan's publish rate")),
]


def machine_description():
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    nchan = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "libnginx-mod-nchan"],
                           capture_output=True, text=True).stdout.strip()
    return ("%s; %d cores; %d GiB RAM; Linux %s; %s; libnginx-mod-nchan %s"
            % (cpu, os.cpu_count(), int(mem) // (1024 * 1024), platform.release(), nginx, nchan))


def plot(results, out_png, tmp):
    csvs = {name: r["steady"].get("csv") for name, r in results.items() if "steady" in r}
    # Without the steady scenario (--only) there is no latency curve to draw.
    if not shutil.which("gnuplot") or not csvs or not all(csvs.values()):
        return False
    script = tmp / "plot.gp"
    lines = []
    for name, path in csvs.items():
        data = tmp / ("cdf-%s.dat" % name)
        lat = sorted(float(l.split(",")[1]) / 1e6 for l in Path(path).read_text().splitlines()[1:] if l)
        with open(data, "w") as f:
            step = max(1, len(lat) // 2000)
            for i in range(0, len(lat), step):
                f.write("%f %f\n" % (lat[i], 100.0 * (i + 1) / len(lat)))
        lines.append("'%s' using 1:2 with lines lw 2 title '%s'" % (data, name))
    script.write_text(
        "set terminal png size 900,500\nset output '%s'\n"
        "set title 'Steady fan-out latency (10k subscribers, 5 events/s)'\n"
        "set xlabel 'latency (ms, log scale)'\nset ylabel 'events delivered within (%%)'\n"
        "set logscale x\nset grid\nset key bottom right\nplot %s\n" % (out_png, ", ".join(lines)))
    subprocess.run(["gnuplot", str(script)], check=True)
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build", default=str(ROOT / "build-release"))
    parser.add_argument("--only", help="comma-separated scenario names; cluster = every cluster_ one, "
                                       "tls = every TLS and HTTP/2 one")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results.md"))
    args = parser.parse_args()
    build = Path(args.build)
    wanted = set(args.only.split(",")) if args.only else None
    if wanted:
        unknown = wanted - {sc.name for sc in SCENARIOS} - {"cluster", "tls"}
        if unknown:
            parser.error("unknown scenario %s (known: %s, cluster, tls)"
                         % (", ".join(sorted(unknown)), ", ".join(sc.name for sc in SCENARIOS)))
    tmp = Path(tempfile.mkdtemp(prefix="sse-bench-"))
    lg = Loadgen(build, tmp)
    servers = [Sidecar(build, tmp), Nchan(tmp)]
    clusters = [
        Cluster("sidecar", tmp, lambda tag, redis_port: Sidecar(build, tmp, tag + "-", free_port(), free_port(),
                                                                  redis_port)),
        Cluster("nchan", tmp, lambda tag, redis_port: NchanNode(tmp, tag, free_port(), redis_port)),
    ]
    results = {s.name: {} for s in servers}
    tls_servers = []  # made, with the run's certificates, when the first TLS scenario runs
    certs = None
    # A SIGTERM unwinds like Ctrl-C, through the finally clauses that stop every server.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        for sc in SCENARIOS:
            name = sc.name
            if (wanted and name not in wanted and not (sc.cluster and "cluster" in wanted)
                    and not (sc.tls and "tls" in wanted)):
                continue
            if sc.tls:
                if certs is None:
                    try:
                        certs = make_certificates(tmp)
                    except Exception as e:
                        for r in results.values():
                            r[name] = {"error": "no certificates: %s" % e}
                        log("%s: %s" % (name, e))
                        continue
                    tls_servers = [Sidecar(build, tmp, certs=certs), NchanTls(tmp, certs)]
                kinds = [Secure(s, certs, sc.h2_streams) for s in tls_servers]
            else:
                kinds = clusters if sc.cluster else servers
            # Alternate which server goes first so neither always runs on a warmer machine.
            order = kinds if len(results["sidecar"]) % 2 == 0 else list(reversed(kinds))
            for server in order:
                log("%s: %s" % (name, server.name))
                try:
                    server.start()
                    skip = server.skip_reason() if isinstance(server, Secure) else None
                    if skip:
                        results[server.name][name] = {"skipped": skip}
                    else:
                        results[server.name][name] = sc.run(lg, server, tmp, args.quick)
                except Exception as e:  # a failed scenario is reported, not hidden
                    results[server.name][name] = {"error": str(e)}
                    log("%s on %s failed: %s" % (name, server.name, e))
                finally:
                    server.stop()
                log("  %s" % json.dumps(results[server.name][name]))
    finally:
        for s in servers + clusters + tls_servers:
            s.stop()
    # Kept beside the raw data, so that a run is not lost to a report that fails to render.
    (tmp / "results.json").write_text(json.dumps(results, indent=1))
    write_report(results, Path(args.out), tmp, args.quick)
    log("results in %s (raw data in %s)" % (args.out, tmp))


def ratio_text(sv, nv, higher, least=0):
    """How many times better (or worse) the sidecar is; n/a where a ratio would say nothing,
    empty for a figure that is context rather than a comparison (higher is None)."""
    if higher is None:
        return ""
    if not all(isinstance(v, (int, float)) and v > least for v in (sv, nv)):
        return "n/a"
    ratio = sv / nv if higher else nv / sv
    if ratio >= 1:
        return "%s× better" % sig3(ratio)
    return "%s× worse" % sig3(1 / ratio)


def figure_table(sc, s, n):
    """The figures of one scenario: figure | sidecar | Nchan | ratio. A server whose run failed
    shows its error in the first row and dashes below."""
    def cell(r, first, key, fmt):
        if "error" in r:
            return "error: " + r["error"] if first else "–"
        if "skipped" in r:
            return "skipped: " + r["skipped"] if first else "–"
        v = r.get(key)
        return fmt(v) if isinstance(v, (int, float)) else "n/a"
    rows = ["| figure | sidecar | Nchan | ratio |", "|---|---|---|---|"]
    for i, (key, label, higher, least, fmt) in enumerate(sc.figures):
        rows.append("| %s | %s | %s | %s |" % (
            label, cell(s, i == 0, key, fmt), cell(n, i == 0, key, fmt),
            ratio_text(s.get(key), n.get(key), higher, least)))
    def delivered(r):
        if "received" not in r:
            return "–"
        text = "{:,} of {:,}".format(r["received"], r["expected"])
        return text + (", %d streams failed" % r["failed"] if r["failed"] else "")
    rows.append("| deliveries received | %s | %s |  |" % (delivered(s), delivered(n)))
    return rows


def cluster_table(sc, s, n, one):
    """figure_table for a cluster scenario, plus the single-node scenario's figures (`one`: the
    sidecar's and Nchan's results, None when it did not run) in two columns beside."""
    s1, n1 = one
    with_one = s1 is not None or n1 is not None

    def cell(r, first, key, fmt):
        if r is None or key is None:
            return ""
        if "error" in r:
            return "error: " + r["error"] if first else "–"
        v = r.get(key)
        return fmt(v) if isinstance(v, (int, float)) else "n/a"
    head = "| figure | sidecar | Nchan | ratio |"
    rule = "|---|---|---|---|"
    if with_one:
        head += " sidecar, one node | Nchan, one node |"
        rule += "---|---|"
    rows = [head, rule]
    for i, (key, label, higher, least, fmt, key1) in enumerate(sc.figures):
        row = "| %s | %s | %s | %s |" % (label, cell(s, i == 0, key, fmt), cell(n, i == 0, key, fmt),
                                         ratio_text(s.get(key), n.get(key), higher, least))
        if with_one:
            row += " %s | %s |" % (cell(s1, i == 0, key1, fmt), cell(n1, i == 0, key1, fmt))
        rows.append(row)

    def count(r, got, of, bad, bad_text):
        if r is None or got not in r:
            return "–" if r is not None else ""
        text = "{:,} of {:,}".format(r[got], r[of])
        if not r.get(bad):
            return text
        reasons = r.get("failure_reasons") or {}
        why = " (%s)" % ", ".join("%s: %d" % kv for kv in sorted(reasons.items())) if reasons else ""
        return text + ", %d %s%s" % (r[bad], bad_text, why)
    for label, counted in (("deliveries received", ("received", "expected", "failed", "streams failed")),
                           ("events acknowledged", ("acknowledged", "events", "publish_errors", "errors"))):
        if counted[0] not in s and counted[0] not in n:
            continue
        row = "| %s | %s | %s |  |" % (label, count(s, *counted), count(n, *counted))
        if with_one:
            row += " %s | %s |" % (count(s1, *counted), count(n1, *counted))
        rows.append(row)
    return rows


def target_text(sc, s, n):
    """The scenario's target and where this run stands against it (not enforced)."""
    key, factor, text = sc.target
    sv, nv = s.get(key), n.get(key)
    if not all(isinstance(v, (int, float)) and v > 0 for v in (sv, nv)):
        return "Target: %s; this run: n/a." % text
    met = sv >= factor * nv if sc.higher else sv <= factor * nv
    return "Target: %s; this run: sidecar/Nchan = %s×, %s." % (text, sig3(sv / nv), "met" if met else "not met")


def number(r, key):
    v = (r or {}).get(key)
    return v if isinstance(v, (int, float)) else None


def times(a, b):
    """a / b as "1.23×", or n/a when either is missing or b is not positive."""
    return "%s×" % sig3(a / b) if a is not None and b is not None and b > 0 else "n/a"


def tls_section(results, quick, details):
    """The TLS section: how both servers terminate TLS, idle memory per connection on each
    transport beside the plain figure, the targets and where this run stands (not enforced),
    and the TLS bursts' figure tables."""
    s, n = results["sidecar"], results["nchan"]
    text = ["## TLS", "",
            "Both servers terminate TLS on the same certificate, an ECDSA P-256 leaf for 127.0.0.1 signed by "
            "a CA made for the run with `openssl` (make_certificates in scripts/bench.py): the sidecar on "
            "`listen.sse_tls`, nginx on `listen ... ssl http2` (bench/nchan-tls.conf.in), both with TLS 1.2 "
            "and 1.3, Mozilla's intermediate suites, session tickets and 16 KiB records. Events are published "
            "as in the plain scenarios (the sidecar's socket, Nchan's plain HTTP publisher). The subscribers "
            "verify the chain and the address as a browser does (`sse-loadgen subscribe --cacert`), and each "
            "connection makes a full handshake (no resumption); the client's half of them runs on its one thread "
            "beside the server (`loadgen_cpu_ms` under each connect storm), so a storm's time includes it, "
            "for both servers alike; where the two are close, the client was the bound and the storm's ratio "
            "says little (its failures still count). HTTP/1.1 subscribers offer `http/1.1` "
            "through ALPN; HTTP/2 ones offer `h2` and `http/1.1` and fail on a server that does not choose "
            "h2, so an `h2_` scenario runs only on a server that offers h2 (asked once per server). "
            "`h2_burst`, `h2_idle_memory` and `h2_connect_storm` give each subscriber a connection of its "
            "own, `h2_shared_burst` puts %d streams on each connection, as %d tabs of one browser do. Every "
            "figure is counted and timed as in the plain scenarios (the same parser, stamps and counters "
            "on every transport)." % (H2_SHARED_STREAMS, H2_SHARED_STREAMS), ""]
    skipped = sorted({res["skipped"] for side in (s, n) for res in side.values() if "skipped" in res})
    if skipped:
        text += ["Skipped: %s (its `h2_` scenarios did not run; the other server's did, for the record)."
                 % "; ".join(skipped), ""]
    rows = ["| idle memory per connection (KiB) | sidecar | Nchan | sidecar / plain | Nchan / plain |",
            "|---|---|---|---|---|"]
    plain_s, plain_n = number(s.get("idle_memory"), "kib_per_conn"), number(n.get("idle_memory"), "kib_per_conn")
    for name, label in (("idle_memory", "plain HTTP/1.1 (`idle_memory`)"),
                        ("tls_idle_memory", "HTTP/1.1 over TLS (`tls_idle_memory`)"),
                        ("h2_idle_memory", "HTTP/2 over TLS (`h2_idle_memory`)")):
        rs, rn = s.get(name), n.get(name)
        if rs is None and rn is None:
            continue

        def cell(r):
            if r is None:
                return "not run"
            for why in ("error", "skipped"):
                if why in r:
                    return "%s: %s" % (why, r[why])
            return sig3(r["kib_per_conn"]) if number(r, "kib_per_conn") is not None else "n/a"
        vs, vn = number(rs, "kib_per_conn"), number(rn, "kib_per_conn")
        ratio = name != "idle_memory"
        rows.append("| %s | %s | %s | %s | %s |" % (label, cell(rs), cell(rn), times(vs, plain_s) if ratio else "",
                                                   times(vn, plain_n) if ratio else ""))
    if len(rows) > 2:
        text += rows + [""]

    def met(ok):
        return "met" if ok else "not met"
    targets = []
    tls_kib = number(s.get("tls_idle_memory"), "kib_per_conn")
    if tls_kib is not None and plain_s:
        targets.append("idle memory per TLS connection at most 2× the plain figure: sidecar %s (%s KiB against "
                       "%s KiB), %s" % (times(tls_kib, plain_s), sig3(tls_kib), sig3(plain_s),
                                        met(tls_kib <= 2 * plain_s)))
    else:
        targets.append("idle memory per TLS connection at most 2× the plain figure: n/a (it needs "
                       "`tls_idle_memory` and `idle_memory` in the same run)")
    bs, bn = number(s.get("tls_burst"), "deliveries_per_sec"), number(n.get("tls_burst"), "deliveries_per_sec")
    if bs and bn:
        targets.append("burst fan-out over TLS at least 10× Nchan over TLS: sidecar/Nchan = %s (`tls_burst` "
                       "deliveries/s), %s" % (times(bs, bn), met(bs >= 10 * bn)))
    else:
        targets.append("burst fan-out over TLS at least 10× Nchan over TLS: n/a")
    storm = s.get("tls_connect_storm") or {}
    if "error" in storm:
        targets.append("a 19k connect storm over TLS with zero failures: sidecar %s, not met" % storm["error"])
    elif number(storm, "failed") is not None:
        size = storm["failed"] + storm.get("connected", 0)
        verdict = "not judged (--quick: not 19k)" if quick else met(storm["failed"] == 0)
        targets.append("a 19k connect storm over TLS with zero failures: sidecar %d failed of %s, %s"
                       % (storm["failed"], "{:,}".format(size), verdict))
    else:
        targets.append("a 19k connect storm over TLS with zero failures: n/a")
    text += ["Targets, stated for comparison and not checked by the run:", ""]
    text += ["- " + line + "." for line in targets] + [""]
    return text + details


def write_report(results, out, tmp, quick):
    out.parent.mkdir(parents=True, exist_ok=True)
    png = out.with_name("latency.png")
    rows = []
    details = []
    tls_details = []
    cluster = []
    for sc in SCENARIOS:
        metric = sc.metric
        s = results["sidecar"].get(sc.name)
        n = results["nchan"].get(sc.name)
        if s is None or n is None:
            continue
        sv, nv = s.get(metric), n.get(metric)
        def fmt(v, r):
            if v is not None:
                return "%.3g" % v if isinstance(v, float) else str(v)
            return "skipped: " + r["skipped"] if "skipped" in r else "error: " + r.get("error", "?")
        shown = {metric, "csv", "skipped", "error", *(f[0] for f in sc.figures or ())}
        extra_s = ", ".join("%s %s" % (k, fmt(v, s)) for k, v in s.items() if k not in shown)
        extra_n = ", ".join("%s %s" % (k, fmt(v, n)) for k, v in n.items() if k not in shown)
        if sc.cluster:
            extra_s = extra_n = "more figures under Cluster"
            one = (results["sidecar"].get(sc.single), results["nchan"].get(sc.single))
            cluster += ["### " + sc.desc.rsplit(" (", 1)[0], "", *cluster_table(sc, s, n, one), "",
                        target_text(sc, s, n), ""]
        elif sc.figures:
            extra_s, extra_n = [(e + "; " if e else "") + "more figures below" for e in (extra_s, extra_n)]
            (tls_details if sc.tls else details).extend(
                ["### " + sc.desc.rsplit(" (", 1)[0], "", *figure_table(sc, s, n), ""])
        rows.append("| %s | %s | %s | %s |\n|  | <sub>%s</sub> | <sub>%s</sub> |  |" % (
            sc.desc, fmt(sv, s), fmt(nv, n), ratio_text(sv, nv, sc.higher), extra_s, extra_n))
    have_plot = plot(results, png, tmp)
    text = ["# Benchmark: sse-sidecar vs Nchan", "",
            "Generated by `scripts/bench%s` on %s." % (" --quick" if quick else "", time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())),
            "", "Machine: " + machine_description(), "",
            "Both servers run on the same machine in the same run, one after the other, driven by "
            "the same client (`sse-loadgen`); the ratio says how many times better (or worse) the "
            "sidecar is, whichever way round each metric is better.", "",
            "| scenario | sidecar | Nchan | ratio |", "|---|---|---|---|", *rows, ""]
    if have_plot:
        text += ["![steady fan-out latency](latency.png)", ""]
    if details:
        text += ["## Bursts", "",
                 "Deliveries/s count from the first delivery to the last. *First publish to last "
                 "delivery* runs from the publisher's stamp on its first event to the subscribers' "
                 "receipt of the last one, and the latency of a delivery from the event's stamp to "
                 "its receipt (all CLOCK_REALTIME on this one machine). The publisher stamps an "
                 "event as it sends it: the sidecar's socket takes the whole burst at once, so all "
                 "its events are stamped at the start, while Nchan's HTTP publisher sends an event "
                 "only when one of its 4 connections has the reply to its previous one; Nchan's "
                 "delivery latencies leave out that wait, the first publish to last delivery "
                 "counts it for both. Memory is the resident set (VmRSS) summed over the server's "
                 "processes (the sidecar's one; nginx's master and workers), sampled every %g ms: "
                 "growth is measured from its value with the idle subscribers connected just before "
                 "the first publish, to its peak during the burst and to its value %g s after the "
                 "last delivery, the subscribers still connected (no ratio where either growth is "
                 "under 1 MB)."
                 % (RSS_INTERVAL_S * 1000, AFTER_S), "", *details]
    if cluster:
        text += ["## Cluster", "",
                 "Each server runs as two nodes on this machine sharing one redis-server, started "
                 "fresh for each scenario and server (no persistence): two sidecars with `engine.type: "
                 "redis`, two nginx with Nchan's `nchan_redis_pass` (bench/nchan-redis.conf.in, one "
                 "worker each; each sidecar has a worker per core). Events are always published on "
                 "node A; the subscribers are split evenly over A and the remote node B, which gets "
                 "the events only through Redis, and each node's subscribers are a loadgen process "
                 "of their own, so the latency on each node is measured apart. Before the "
                 "subscribers connect, %d events go to another topic on node A, so that Redis's "
                 "one-off costs of a first publish (script compilation, some 200-400 KB) are not "
                 "counted against the scenario's events. The figures are "
                 "measured as under Bursts; memory is that of both nodes (not Redis's). Redis's CPU "
                 "is the time of all its threads (/proc schedstat) from just before the first publish "
                 "to just after the last delivery; per event published, less its idle rate (its "
                 "cron and the servers' keep-alives, read over the second before the first "
                 "publish) over that time. Its memory is INFO `used_memory_dataset` kept per event "
                 "after the last delivery (without the clients' buffers, which Redis resizes on its "
                 "own schedule) and `used_memory` at its peak (`used_memory_peak`), each less its "
                 "value before the first publish. Beside the cluster "
                 "figures, where the same run had them, are the same scenario's on one node (all "
                 "subscribers on it, no Redis), so the cost of going through Redis shows. The "
                 "targets are goals stated for comparison, not checked by the run." % WARM_UP_EVENTS, "", *cluster]
    if any(sc.tls and sc.name in results["sidecar"] for sc in SCENARIOS):
        text += tls_section(results, quick, tls_details)
    text += ["What bounds each scenario, with a profile: [analysis.md](analysis.md).", ""]
    out.write_text("\n".join(text))


if __name__ == "__main__":
    main()
