#!/usr/bin/env python3
"""Reliability figures of sse-sidecar under sustained, hostile and careless load.

Run through scripts/soak, which builds a Release binary first. Each scenario starts a fresh
sidecar with a configuration of its own, drives it with sse-loadgen (the many-stream clients)
and small Python clients (stalled readers, half-sent requests), samples its resident memory
and /metrics once a second, and compares what a user would feel with a goal:

  soak          10k streams on 1000 topics for 10 minutes, steady publishing, 10% of the
                streams reconnecting with Last-Event-ID each minute: memory drift, and every
                event checked by number per topic (lost, duplicated, sidecar.missed)
  stalled       9k fast subscribers, then 1k more that stop reading: the fast ones' latency,
                the stalled ones disconnected and counted, memory within the configured bound
  flood         10 publishers at full speed on the Unix socket, 1 GB to random topics: memory
                bounded by the config, every line answered, live streams never stall
  fds           25k connection attempts against the 20k descriptor limit: refusals, no
                crash, full service once they close (with a connection limit below the
                descriptor limit, and without one)
  slow_headers  5k half-sent requests: each closed at limits.request_timeout, real clients
                unaffected meanwhile

Results go to results.json in the run's temp dir (with every process's log); the figures go
into docs/reliability.md, one section per scenario, replacing only the sections of the
scenarios that ran. Nothing here is part of the test suite.
"""

import argparse
import errno
import json
import os
import platform
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from bench import Background, free_port, rss_kib, stop_process, wait_port  # noqa: E402

TOPIC_PREFIXES = ["soak.*", "stall.*", "flood.*", "fds.*", "slow.*"]
MONITOR_INTERVAL_S = 1.0


def log(msg):
    print("soak: " + msg, file=sys.stderr, flush=True)


# ---- the sidecar and what is read from it ----

class Sidecar:
    """One sidecar with a scenario's settings (a dict of config sections, written as YAML flow
    mappings). Its ports are free ones, its files live in the run's temp dir."""

    def __init__(self, build, tmp, name, settings):
        self.bin = str(build / "sse-sidecar")
        self.tmp = tmp
        self.name = name
        self.sse_port = free_port()
        self.admin_port = free_port()
        self.socket = str(tmp / (name + "-publish.sock"))
        self.config = tmp / (name + "-sidecar.yaml")
        self.log = tmp / (name + "-sidecar.log")
        self.settings = settings
        self.proc = None

    def config_text(self, settings):
        sections = {
            "listen": {"sse": "127.0.0.1:%d" % self.sse_port, "admin": "127.0.0.1:%d" % self.admin_port},
            "workers": 0,
            "publish": {"socket": self.socket},
            "access": {"public_topics": TOPIC_PREFIXES},
            "log": {"level": "warn", "access": False},
        }
        for key, value in settings.items():
            if isinstance(value, dict) and isinstance(sections.get(key), dict):
                sections[key] = {**sections[key], **value}
            else:
                sections[key] = value
        # JSON is YAML: every section is one flow mapping.
        return "".join("%s: %s\n" % (k, json.dumps(v)) for k, v in sections.items())

    def supports(self, settings):
        """Whether this build knows these settings: --check-config on a config holding them."""
        probe = self.tmp / (self.name + "-probe.yaml")
        probe.write_text(self.config_text({**self.settings, **settings}))
        r = subprocess.run([self.bin, "--check-config", "--config", str(probe)], capture_output=True, text=True)
        return r.returncode == 0

    def start(self):
        self.config.write_text(self.config_text(self.settings))
        check = subprocess.run([self.bin, "--check-config", "--config", str(self.config)],
                               capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError("config refused: " + (check.stdout + check.stderr).strip())
        self.proc = subprocess.Popen([self.bin, "--config", str(self.config)], stdout=subprocess.DEVNULL,
                                     stderr=open(self.log, "ab"))
        wait_port(self.sse_port, proc=self.proc)
        wait_port(self.admin_port, proc=self.proc)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM (a graceful drain); the exit status, or None when it had to be killed."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def rss_kib(self):
        return rss_kib([self.proc.pid]) if self.alive() else 0

    def metrics(self, timeout=2.0):
        """/metrics as {"name" or "name{labels}": value}, None when it does not answer."""
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.admin_port, timeout=timeout) as r:
                text = r.read().decode()
        except OSError:
            return None
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                try:
                    out[key] = float(value)
                except ValueError:
                    pass
        return out


class Monitor(Background):
    """The sidecar's resident memory and /metrics once a second on a thread, as
    (CLOCK_REALTIME ns, RSS KiB, metrics or None) from start() until stop()."""

    def __init__(self, sidecar, with_metrics=True, with_sockets=False):
        super().__init__()
        self.sidecar = sidecar
        self.with_metrics = with_metrics
        self.with_sockets = with_sockets
        self.samples = []

    def _run(self):
        while True:
            m = self.sidecar.metrics() if self.with_metrics else None
            if m is not None and self.with_sockets:
                for key, value in socket_queues(self.sidecar.sse_port).items():
                    m["socket_" + key] = value
            self.samples.append((time.time_ns(), self.sidecar.rss_kib(), m))
            if self._stop.wait(MONITOR_INTERVAL_S):
                return

    def rss_between(self, t0, t1):
        return [kib for t, kib, _ in self.samples if t0 <= t <= t1 and kib]

    def peak(self, t0=0, t1=float("inf")):
        return max(self.rss_between(t0, t1), default=0)

    def metric_series(self, key):
        return [(t, m.get(key, 0.0)) for t, _, m in self.samples if m is not None]

    def metric_max(self, key):
        return max((v for _, v in self.metric_series(key)), default=None)


def socket_queues(port):
    """What the kernel holds for the sidecar's stream sockets (local port `port`), from `ss`:
    {"sockets": n, "queued_kib": send and receive queues, "fin_wait": sockets the sidecar has
    closed whose unsent bytes the kernel still holds (orphans), "fin_wait_kib": their bytes}."""
    out = subprocess.run(["ss", "-tmnH", "state", "all", "( sport = :%d )" % port],
                         capture_output=True, text=True).stdout
    res = {"sockets": 0, "queued_kib": 0.0, "fin_wait": 0, "fin_wait_kib": 0.0}
    state = None
    for line in out.splitlines():
        if not line.startswith("\t") and not line.startswith(" "):
            state = line.split()[0] if line.split() else None
            continue
        at = line.find("skmem:(")
        if at < 0:
            continue
        def value(prefix):
            for f in line[at + 7:line.find(")", at)].split(","):
                if f.startswith(prefix) and f[len(prefix):].isdigit():
                    return int(f[len(prefix):])
            return 0
        kib = (value("r") + value("w")) / 1024
        res["sockets"] += 1
        res["queued_kib"] += kib
        if state and state.startswith("FIN-WAIT"):
            res["fin_wait"] += 1
            res["fin_wait_kib"] += kib
    return res


def mib(kib):
    return kib / 1024.0


# ---- sse-loadgen ----

class Procs:
    """Every client process a scenario starts, so that all of them go whatever happens."""

    def __init__(self):
        self.procs = []

    def add(self, proc):
        self.procs.append(proc)
        return proc

    def kill_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.procs = []


class Loadgen:
    def __init__(self, build, tmp, procs):
        self.bin = str(build / "sse-loadgen")
        self.tmp = tmp
        self.procs = procs
        self.count = 0

    def _log(self, tag):
        return open(self.tmp / ("loadgen-%s.log" % tag), "ab")

    def subscribe(self, tag, sidecar, path, connections, extra=()):
        """Starts a fleet; returns (proc, ready file). See wait_ready()."""
        self.count += 1
        ready = self.tmp / ("ready-%s-%d" % (tag, self.count))
        args = [self.bin, "subscribe", "--url", "http://127.0.0.1:%d%s" % (sidecar.sse_port, path),
                "--connections", str(connections), "--ready-file", str(ready), *extra]
        proc = self.procs.add(subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self._log(tag), text=True))
        return proc, ready

    @staticmethod
    def wait_ready(fleets, timeout=180):
        """Waits for every fleet's READY; returns [(connected, failed)]."""
        deadline = time.time() + timeout
        out = []
        for proc, ready in fleets:
            while not ready.exists():
                if proc.poll() is not None:
                    raise RuntimeError("a subscriber fleet exited before READY (status %d)" % proc.returncode)
                if time.time() > deadline:
                    raise RuntimeError("subscribers never became ready")
                time.sleep(0.05)
            time.sleep(0.05)  # written in one go, but let it land
            connected, failed = ready.read_text().split()
            out.append((int(connected), int(failed)))
        return out

    def publish(self, tag, sidecar, extra):
        args = [self.bin, "publish", "--target", "sidecar-socket:" + sidecar.socket, "--quiet", *extra]
        return self.procs.add(subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self._log(tag), text=True))

    @staticmethod
    def report(proc, timeout):
        out, _ = proc.communicate(timeout=timeout)
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if not lines:
            raise RuntimeError("a loadgen process printed no report (status %s)" % proc.returncode)
        return json.loads(lines[-1])

    @staticmethod
    def interrupt(proc):
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)


def percentiles_from_csvs(csvs, t0, t1, ps=(0.5, 0.99)):
    """Latency percentiles (ms) of the sampled deliveries received in [t0, t1], from the
    fleets' --latency-csv files (evenly spaced samples); also the sample count."""
    lat = []
    for path in csvs:
        try:
            for line in Path(path).read_text().splitlines()[1:]:
                receive, latency = line.split(",")
                if t0 <= int(receive) <= t1:
                    lat.append(int(latency))
        except OSError:
            pass
    if not lat:
        return [None for _ in ps], 0
    lat.sort()
    return [lat[min(len(lat) - 1, int(p * len(lat)))] / 1e6 for p in ps], len(lat)


def percentiles_from_windows(csv, windows, ps=(0.5, 0.99)):
    """As percentiles_from_csvs, over the samples of several time windows pooled."""
    lat = []
    try:
        for line in Path(csv).read_text().splitlines()[1:]:
            receive, latency = line.split(",")
            if any(t0 <= int(receive) <= t1 for t0, t1 in windows):
                lat.append(int(latency))
    except OSError:
        pass
    if not lat:
        return [None for _ in ps], 0
    lat.sort()
    return [lat[min(len(lat) - 1, int(p * len(lat)))] / 1e6 for p in ps], len(lat)


# ---- small Python clients ----

def http_get_head(port, path, timeout=5.0, source=None):
    """Opens a stream, reads its response head, closes it: (status, seconds to the head)."""
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                  source_address=(source, 0) if source else None) as s:
        s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n" % path).encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                raise OSError("closed before the response head")
            data += chunk
        return int(data.split(b" ", 2)[1]), time.monotonic() - t0


class PublishConnection:
    """One connection to the publish socket, as an application keeps it."""

    def __init__(self, sidecar, timeout=5.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(sidecar.socket)

    def publish(self, topic, data):
        """The reply line to one event, or an error text."""
        try:
            self.sock.sendall((json.dumps({"topic": topic, "data": data}) + "\n").encode())
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = self.sock.recv(4096)
                if not chunk:
                    return "closed without a reply"
                reply += chunk
            return reply.decode().strip()
        except OSError as e:
            return "error: %s" % (e or type(e).__name__)

    def close(self):
        self.sock.close()


def publish_one(sidecar, topic, data="probe", timeout=5.0):
    """One event on a fresh publish socket connection: the reply line, or an error text."""
    try:
        conn = PublishConnection(sidecar, timeout)
    except OSError as e:
        return "error: %s" % (e or type(e).__name__)
    try:
        return conn.publish(topic, data)
    finally:
        conn.close()


class StalledReaders:
    """Streams that read their response head and then nothing: a small receive buffer (set
    before connecting, so the window stays small), then the socket is left alone. drain()
    reads them at the end to tell which ones the server closed.

    Their MSS is set to an Internet path's (1460) rather than loopback's 64 KiB: the server's
    kernel sizes a connection's send buffer from its MSS, and on loopback it would take some
    4 MB per stream before a byte waited in the sidecar's own buffer, far more than any real
    client gets."""

    def __init__(self, port, paths, rcvbuf, source, mss=1460):
        self.port = port
        self.paths = paths
        self.rcvbuf = rcvbuf
        self.source = source
        self.mss = mss
        self.socks = []
        self.statuses = {}

    def open(self):
        for path in self.paths:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
            if self.mss:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, self.mss)
            s.bind((self.source, 0))
            s.settimeout(10)
            s.connect(("127.0.0.1", self.port))
            s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
                       % path).encode())
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = s.recv(256)  # little at a time: read as little of the body as possible
                if not chunk:
                    break
                head += chunk
            status = head.split(b" ", 2)[1].decode() if head.startswith(b"HTTP/") else "none"
            self.statuses[status] = self.statuses.get(status, 0) + 1
            self.socks.append(s)

    def drain(self, quiet_s=3.0, limit_s=30.0):
        """Reads every socket until the server's close, or until it has been quiet for quiet_s:
        {"closed": n, "reset": n, "open": n, "bytes": n}."""
        sel = selectors.DefaultSelector()
        for s in self.socks:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
        counts = {"closed": 0, "reset": 0, "open": 0, "bytes": 0}
        pending = len(self.socks)
        deadline = time.monotonic() + limit_s
        last_data = time.monotonic()
        while pending and time.monotonic() < deadline and time.monotonic() - last_data < quiet_s:
            for key, _ in sel.select(0.2):
                s = key.fileobj
                try:
                    chunk = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    counts["reset"] += 1
                    chunk = None
                if chunk:
                    counts["bytes"] += len(chunk)
                    last_data = time.monotonic()
                    continue
                if chunk is not None:
                    counts["closed"] += 1
                sel.unregister(s)
                s.close()
                pending -= 1
        counts["open"] = pending
        self.close()
        sel.close()
        return counts

    def close(self):
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass
        self.socks = []


class HalfSentRequests:
    """Connections that send the start of a request and then nothing (or, the drip ones, one
    more byte a second, slowloris style), each timed from its connect() to the server's close."""

    PREFIX = b"GET /events?topic=slow.half HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/"

    def __init__(self, port, count, drip_every, sources, source_base="127.0.1.1"):
        self.port = port
        self.count = count
        self.drip_every = drip_every  # every drip_every-th connection drips; 0 = none
        base = [int(x) for x in source_base.split(".")]
        self.sources = ["%d.%d.%d.%d" % (base[0], base[1], base[2], base[3] + i) for i in range(sources)]
        self.conns = []  # dicts: sock, connect_t, sent_t, first_byte_t, closed_t, status, drip, dripped
        self.errors = {}

    def run(self, until_s, batch=250, batch_pause_s=0.05):
        """Opens every connection (in batches, so the listen backlog never overflows into SYN
        retries) and watches them until all are closed or until_s (monotonic) passes."""
        sel = selectors.DefaultSelector()
        for i in range(self.count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.bind((self.sources[i % len(self.sources)], 0))
            c = {"sock": s, "connect_t": time.monotonic(), "sent_t": None, "first_byte_t": None,
                 "closed_t": None, "status": None, "drip": bool(self.drip_every and i % self.drip_every == 0),
                 "dripped": 0, "head": b""}
            err = s.connect_ex(("127.0.0.1", self.port))
            if err not in (0, errno.EINPROGRESS):
                self.errors[os.strerror(err)] = self.errors.get(os.strerror(err), 0) + 1
                s.close()
                continue
            sel.register(s, selectors.EVENT_WRITE, c)
            self.conns.append(c)
            if i % batch == batch - 1:
                self._poll(sel, batch_pause_s)
        next_drip = time.monotonic() + 1.0
        while time.monotonic() < until_s and any(c["closed_t"] is None for c in self.conns):
            self._poll(sel, 0.1)
            if time.monotonic() >= next_drip:
                next_drip += 1.0
                for c in self.conns:
                    if c["drip"] and c["closed_t"] is None and c["sent_t"] is not None:
                        try:
                            c["sock"].send(b"x")
                            c["dripped"] += 1
                        except OSError:
                            pass
        for c in self.conns:
            if c["closed_t"] is None:
                try:
                    sel.unregister(c["sock"])
                except (KeyError, ValueError):
                    pass
                c["sock"].close()
        sel.close()

    def _poll(self, sel, timeout):
        for key, mask in sel.select(timeout):
            c = key.data
            s = c["sock"]
            now = time.monotonic()
            if c["sent_t"] is None:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    self.errors[os.strerror(err)] = self.errors.get(os.strerror(err), 0) + 1
                    self._closed(sel, c, now)
                    continue
                try:
                    s.send(self.PREFIX)
                except OSError as e:
                    self.errors[str(e)] = self.errors.get(str(e), 0) + 1
                    self._closed(sel, c, now)
                    continue
                c["sent_t"] = now
                sel.modify(s, selectors.EVENT_READ, c)
                continue
            try:
                chunk = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            if chunk:
                if c["first_byte_t"] is None:
                    c["first_byte_t"] = now
                c["head"] += chunk[:64]
                continue
            self._closed(sel, c, now)

    @staticmethod
    def _closed(sel, c, now):
        c["closed_t"] = now
        head = c["head"]
        c["status"] = head.split(b" ", 2)[1].decode() if head.startswith(b"HTTP/") and b" " in head else "none"
        sel.unregister(c["sock"])
        c["sock"].close()


class NewStreamProber(Background):
    """Opens a new stream every interval on a thread (response head, then close), as a real
    client arriving meanwhile: the time to its head, and failures."""

    def __init__(self, port, path, interval_s, source="127.0.0.99"):
        super().__init__()
        self.port = port
        self.path = path
        self.interval_s = interval_s
        self.source = source
        self.times = []
        self.failures = {}

    def _run(self):
        while not self._stop.is_set():
            try:
                status, seconds = http_get_head(self.port, self.path, 5.0, self.source)
                if status == 200:
                    self.times.append(seconds)
                else:
                    self.failures["HTTP %d" % status] = self.failures.get("HTTP %d" % status, 0) + 1
            except OSError as e:
                self.failures[str(e)] = self.failures.get(str(e), 0) + 1
            self._stop.wait(self.interval_s)


def quantile(values, p):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, int(p * len(v)))]


# ---- figures: what a scenario returns ----

class Figures:
    """A scenario's table: label, this run's value, the goal and whether it was met (None where
    a figure has no goal), and the raw numbers behind them for results.json."""

    def __init__(self):
        self.rows = []
        self.raw = {}

    def add(self, label, value, goal="", met=None):
        self.rows.append({"label": label, "value": value, "goal": goal, "met": met})

    def as_dict(self):
        return {"rows": self.rows, "raw": self.raw}


def fmt(v, digits=3):
    if v is None:
        return "n/a"
    if isinstance(v, int):
        return "{:,}".format(v)
    return "%g" % float("%.*g" % (digits, v))


def counts_text(d):
    return ", ".join("%s: %d" % kv for kv in sorted(d.items())) if d else "none"


def merged_reasons(reports):
    out = {}
    for r in reports:
        for key in ("failure_reasons", "disconnect_reasons"):
            for reason, n in r.get(key, {}).items():
                out[reason] = out.get(reason, 0) + n
    return out


def delta(monitor, key):
    series = monitor.metric_series(key)
    return series[-1][1] - series[0][1] if series else None


# ---- soak ----

def soak(ctx, quick):
    """10k streams on 1000 topics (10 each) for 10 minutes. One publisher numbers each topic's
    events (round-robin, so every topic gets the same count); each stream checks the numbers of
    its topic from 1 to the last. 10% of the streams a minute are closed and reopened with
    Last-Event-ID (a steady trickle, round-robin, so each stream reconnects about once in the
    run). History (history.max_events) is sized to hold a minute of a topic's events, far more
    than a reconnect takes, and so fills within the first minute: memory has reached its steady
    state by minute 2, where the drift is measured from (the mean resident memory over 12 s
    around minute 2 and around the end)."""
    subs, topics, seconds, rate, size = (1000, 100, 60, 100, 200) if quick else (10000, 1000, 600, 200, 200)
    minute = seconds / 10.0  # the drift runs from "minute 2" to "minute 10": 20% to 100% of the run
    per_topic = int(rate * seconds / topics)
    events = per_topic * topics
    history_events = max(10, int(rate / topics * minute + 0.999))  # a "minute" of each topic's events
    reconnect_rate = subs * 0.10 / minute
    sc = ctx.sidecar("soak", {
        "limits": {"max_connections": subs + 1000},
        "history": {"max_events": history_events, "max_age": "15m"},
    })
    f = Figures()
    f.raw.update(subs=subs, topics=topics, seconds=seconds, rate=rate, size=size, events=events,
                 history_max_events=history_events, reconnect_rate=reconnect_rate)
    sc.start()
    mon = Monitor(sc).start()
    try:
        rss_idle = sc.rss_kib()
        csv = ctx.tmp / "soak-latency.csv"
        fleet = ctx.lg.subscribe("soak-subs", sc, "/events?topic=soak.{i%%%d}" % topics, subs, [
            "--check-sequence", "--sequence-from", "1", "--sequence-end", str(per_topic),
            "--reconnect-rate", "%g" % reconnect_rate, "--timeout", str(seconds + 120),
            "--max-pending", "500", "--latency-csv", str(csv)])
        (connected, failed), = Loadgen.wait_ready([fleet])
        time.sleep(2.0)
        rss_streams = sc.rss_kib()
        t_pub = time.time_ns()
        pub = ctx.lg.publish("soak-pub", sc, ["--topics", "soak.{i}", "--topic-count", str(topics),
                                               "--events", str(events), "--rate", str(rate),
                                               "--size", str(size), "--sequence", "--timeout", "60"])
        pr = Loadgen.report(pub, seconds + 300)
        t_pub_end = time.time_ns()
        r = Loadgen.report(fleet[0], 300)
        time.sleep(5.0)
        rss_after = sc.rss_kib()
    finally:
        mon.stop()
        ctx.procs.kill_all()
    # Memory at "minute 2" and "minute 10": the mean over 10% of a minute around each point.
    def around(t_s):
        w = minute * 0.1 * 1e9
        vals = mon.rss_between(t_pub + t_s * 1e9 - w, t_pub + t_s * 1e9 + w)
        return sum(vals) / len(vals) if vals else None
    rss2, rss10 = around(2 * minute), around(min(10 * minute, (t_pub_end - t_pub) / 1e9 - minute * 0.1))
    drift = (rss10 - rss2) / rss2 * 100 if rss2 and rss10 else None
    seq = r.get("sequence") or {}
    lat = r["latency_ns"]
    (p50, p99, p999), _ = percentiles_from_csvs([csv], t_pub, t_pub_end + 60e9, (0.5, 0.99, 0.999))
    lost = seq.get("lost", 0) + seq.get("shortfall", 0)
    unit = "minute" if not quick else "%g s 'minute'" % minute
    f.add("resident memory drift, %s 2 to %s 10" % (unit, unit), "%s%% (%s → %s MiB)" % (
        fmt(drift), fmt(mib(rss2 or 0)), fmt(mib(rss10 or 0))), "< 5%", drift is not None and abs(drift) < 5)
    # Whether it levels off: the growth rate over each stretch of two minutes from minute 2 on.
    marks = [around(m * minute) for m in (2, 4, 6, 8)] + [rss10]
    rates = [(b - a) / 1024 / (2 * minute / 60) if a and b else None for a, b in zip(marks, marks[1:])]
    f.add("… growth over %ss 2-4 / 4-6 / 6-8 / 8-10 (MiB per minute of run)" % unit,
          " / ".join(fmt(r) for r in rates))
    f.add("events lost (gaps and never received)", fmt(lost), "0", lost == 0)
    f.add("events duplicated", fmt(seq.get("duplicated")), "0", seq.get("duplicated") == 0)
    f.add("`sidecar.missed` notices (history sized to cover every resume)", fmt(r["missed_notices"]), "0",
          r["missed_notices"] == 0)
    f.add("deliveries checked by number", "%s of %s" % (fmt(seq.get("checked")), fmt(events * subs // topics)),
          "all", seq.get("checked") == events * subs // topics)
    f.add("reconnects with Last-Event-ID (failed)", "%s (%s)" % (fmt(r["reconnects"]), fmt(r["reconnect_failed"])),
          "%s a %s, 0 failed" % (fmt(int(subs * 0.1)), unit), r["reconnect_failed"] == 0)
    f.add("streams failed or ended early", "%s (%s)" % (fmt(failed + r["disconnected_early"]),
                                                         counts_text(merged_reasons([r]))), "0",
          failed + r["disconnected_early"] == 0)
    f.add("delivery latency p50 / p99 / p99.9 / max (ms)",
          "%s / %s / %s / %s" % (fmt(p50), fmt(p99), fmt(p999), fmt(lat["max"] / 1e6)))
    f.add("longest gap between two events of one stream (s; a topic gets an event every %g s)"
          % (topics / rate), fmt(r["max_gap_ms"] / 1e3))
    f.add("resident memory: idle / %s streams / peak / %s s after the streams closed (MiB)" % (fmt(subs), 5),
          "%s / %s / %s / %s" % (fmt(mib(rss_idle)), fmt(mib(rss_streams)), fmt(mib(mon.peak())),
                                 fmt(mib(rss_after))))
    f.add("events published (acknowledged / refused)", "%s / %s" % (fmt(pr["ok"]), fmt(pr["errors"])),
          "all / 0", pr["ok"] == events and pr["errors"] == 0)
    f.raw.update(publisher=pr, subscribers=r, rss_idle_kib=rss_idle, rss_streams_kib=rss_streams,
                 rss_minute2_kib=rss2, rss_minute10_kib=rss10, rss_after_kib=rss_after, drift_pct=drift,
                 rss_series=[(t, k) for t, k, _ in mon.samples], p50_ms=p50, p99_ms=p99, p999_ms=p999)
    return f


# ---- stalled ----

def stalled(ctx, quick):
    """9k fast subscribers on 20 topics get events of 4 KiB, 2 a second per topic, numbered and
    checked. The run alternates phase A (they alone, 30 s) and phase B (30 s) three times. At
    the start of each B, 1k more streams on the same topics (Python sockets, 4 KiB receive
    buffers, an Internet-like MSS of 1460) read their response head and then nothing; the
    sidecar keeps queueing for them until limits.subscriber_buffer_bytes (64 KiB here) and
    disconnects them; at the end of B the Python side reads them out to see that they were
    closed (and so frees what the kernel still held for them), and the next A starts 3 s
    later. (With loopback's 64 KiB MSS the kernel would size each one's send buffer to some
    4 MB and take that much before the sidecar's bound even began.) The fast subscribers'
    latency p99 is compared between all A phases and all B phases (each from the stalled
    streams' connect to a second after the last of them was disconnected) from their sampled
    deliveries;
    alternating them keeps a change in the machine's other load from passing for an effect,
    and the spread of the A phases' own p99 shows the noise. Memory is the growth from just
    before each B to its peak in that B; kernel memory on the sidecar's sockets is summed
    from `ss -tm` once a second."""
    fast, slow, topics, rate, size, phase, cycles = ((900, 100, 10, 40, 4096, 12, 2) if quick else
                                                      (9000, 1000, 20, 40, 4096, 30, 3))
    buffer_kib = 64
    settle_s = 3.0
    sc = ctx.sidecar("stalled", {"limits": {"max_connections": fast + slow + 1000,
                                            "subscriber_buffer_bytes": "%dKiB" % buffer_kib}})
    total_s = cycles * (2 * phase + settle_s + 4) + 13
    per_topic = int(rate * total_s / topics)
    events = per_topic * topics
    f = Figures()
    f.raw.update(fast=fast, stalled=slow, topics=topics, rate=rate, size=size, phase_s=phase, cycles=cycles,
                 subscriber_buffer_kib=buffer_kib)
    sc.start()
    mon = Monitor(sc, with_sockets=True).start()
    readers = None
    slow_key = "sse_slow_consumer_disconnects_total"
    windows_a, windows_b, per_cycle = [], [], []
    try:
        csv = ctx.tmp / "stalled-latency.csv"
        fleet = ctx.lg.subscribe("stalled-fast", sc, "/events?topic=stall.{i%%%d}" % topics, fast, [
            "--check-sequence", "--sequence-from", "1", "--sequence-end", str(per_topic),
            "--timeout", str(total_s + 120), "--latency-csv", str(csv)])
        (connected, failed), = Loadgen.wait_ready([fleet])
        time.sleep(1.0)
        t0 = time.time_ns()
        pub = ctx.lg.publish("stalled-pub", sc, ["--topics", "stall.{i}", "--topic-count", str(topics),
                                                  "--events", str(events), "--rate", str(rate),
                                                  "--size", str(size), "--sequence", "--timeout", "60"])
        time.sleep(5.0)  # past the first deliveries to every stream
        for cycle in range(cycles):
            t_a = time.time_ns()
            time.sleep(phase)
            windows_a.append((t_a, time.time_ns()))
            rss_before = sc.rss_kib()
            before = (sc.metrics() or {}).get(slow_key, 0)
            readers = StalledReaders(sc.sse_port, ["/events?topic=stall.%d" % (i % topics) for i in range(slow)],
                                     4096, "127.0.0.%d" % (50 + cycle))
            t_stall = time.time_ns()
            readers.open()
            t_b = time.time_ns()
            time.sleep(phase)
            t_b_end = time.time_ns()
            after = (sc.metrics() or {}).get(slow_key, 0)
            drained = readers.drain()
            readers = None
            series = [(t, v) for t, v in mon.metric_series(slow_key) if t >= t_stall]
            t_all = next((t for t, v in series if v - before >= slow), None)
            # The effect can only show while they are there: B is measured until a second after
            # the last of them was disconnected (or to its end, if some never were).
            windows_b.append((t_b, min(t_b_end, t_all + 1e9) if t_all else t_b_end))
            per_cycle.append({"disconnected": after - before, "drained": drained,
                              "seconds_to_all": (t_all - t_stall) / 1e9 if t_all else None,
                              "rss_before_kib": rss_before, "rss_peak_kib": mon.peak(t_stall, t_b_end),
                              "window_b": (t_b, t_b_end), "stall": t_stall})
            time.sleep(settle_s)
        pr = Loadgen.report(pub, total_s + 120)
        r = Loadgen.report(fleet[0], 180)
    finally:
        mon.stop()
        if readers:
            readers.close()
        ctx.procs.kill_all()

    def pooled(windows):
        lat = []
        for t_from, t_to in windows:
            (_, p99), n = percentiles_from_csvs([csv], t_from, t_to, (0.5, 0.99))
            lat.append(p99)
        (p50, p99), n = percentiles_from_windows(csv, windows)
        return p50, p99, n, lat
    a50, a99, na, a_each = pooled(windows_a)
    b50, b99, nb, b_each = pooled(windows_b)
    rise = (b99 / a99 - 1) * 100 if a99 and b99 else None
    disconnected = sum(c["disconnected"] for c in per_cycle)
    closed = sum(c["drained"]["closed"] + c["drained"]["reset"] for c in per_cycle)
    still_open = sum(c["drained"]["open"] for c in per_cycle)
    growth = max((c["rss_peak_kib"] - c["rss_before_kib"] for c in per_cycle), default=0)
    bound_all = (fast + slow) * buffer_kib
    bound_slow = slow * (buffer_kib + size / 1024)
    buffered = mon.metric_max("sse_stream_buffered_bytes")
    seq = r.get("sequence") or {}
    lost = seq.get("lost", 0) + seq.get("shortfall", 0)
    each = lambda xs: ", ".join(fmt(x) for x in xs)
    f.add("fast subscribers' latency p99, all A phases / all B phases (ms)", "%s / %s" % (fmt(a99), fmt(b99)))
    f.add("p99 rise from A to B", "%s%%" % fmt(rise), "< 10%", rise is not None and rise < 10)
    f.add("p99 of each A phase / each B phase (ms): the noise", "%s / %s" % (each(a_each), each(b_each)))
    f.add("fast subscribers' latency p50, A / B (ms)", "%s / %s" % (fmt(a50), fmt(b50)))
    f.add("stalled streams disconnected (sse_slow_consumer_disconnects_total)", "%s of %s" % (
        fmt(int(disconnected)), fmt(slow * cycles)), "all", disconnected >= slow * cycles)
    f.add("stalled streams the clients found closed at the end of B (closed / still open)", "%s / %s" % (
        fmt(closed), fmt(still_open)), "all closed", closed == slow * cycles)
    f.add("time from the stalled streams' connect to all of them disconnected, each B (s)",
          each(c["seconds_to_all"] for c in per_cycle))
    f.add("sidecar memory growth at its peak in a B phase (MiB)", fmt(mib(growth)),
          "≤ %s MiB (subscriber_buffer_bytes × streams)" % fmt(mib(bound_all)), growth <= bound_all)
    f.add("… against the stalled streams' own share (stalled × (buffer + one event), MiB)", fmt(mib(bound_slow)))
    f.add("peak sse_stream_buffered_bytes (MiB)", fmt(buffered / 1048576 if buffered is not None else None))

    def most(key, windows):
        return max((m.get(key, 0) for t, _, m in mon.samples if m and any(a <= t <= b for a, b in windows)),
                   default=None)
    stall_windows = [(c["stall"], c["window_b"][1]) for c in per_cycle]
    kq_a, kq_b = most("socket_queued_kib", windows_a), most("socket_queued_kib", stall_windows)
    f.add("kernel memory queued on the sidecar's stream sockets at its peak in A / B (MiB, from ss)",
          "%s / %s" % (fmt(mib(kq_a) if kq_a is not None else None), fmt(mib(kq_b) if kq_b is not None else None)))
    fw, fw_kib = most("socket_fin_wait", stall_windows), most("socket_fin_wait_kib", stall_windows)
    f.add("… of it on closed, orphaned sockets still holding unsent bytes (sockets, MiB)", "%s, %s" % (
        fmt(int(fw)) if fw is not None else "n/a", fmt(mib(fw_kib) if fw_kib is not None else None)))
    f.add("fast subscribers: events lost / duplicated / disconnected",
          "%s / %s / %s" % (fmt(lost), fmt(seq.get("duplicated")), fmt(r["disconnected_early"] + failed)),
          "0 / 0 / 0", lost == 0 and seq.get("duplicated") == 0 and r["disconnected_early"] + failed == 0)
    f.add("latency samples, A / B", "%s / %s" % (fmt(na), fmt(nb)))
    f.raw.update(publisher=pr, subscribers=r, cycles_detail=per_cycle, p99_ms={"a": a99, "b": b99},
                 p99_each_ms={"a": a_each, "b": b_each}, p50_ms={"a": a50, "b": b50},
                 rss_series=[(t, k) for t, k, _ in mon.samples],
                 slow_series=mon.metric_series(slow_key), buffered_series=mon.metric_series("sse_stream_buffered_bytes"))
    return f


# ---- flood ----

HISTORY_BOUNDS = {"max_total_bytes": "256MiB", "max_topics": 50000}


def flood(ctx, quick):
    """10 publishers on the Unix socket at full speed (each its own connection, back to back
    in 64 KiB writes, reading its replies as they come), 1 GB of 1000-byte events in all, to
    random topics among 100k. Meanwhile 8 streams on a live topic get 50 numbered events a
    second from an 11th publisher, and 8 more listen on flood topics. When the build knows
    history.max_total_bytes and history.max_topics (a total bound on retained history), they
    are set (256 MiB, 50k topics); otherwise history is bounded only per topic."""
    publishers, total, size, topic_space = (10, 50_000_000, 1000, 100_000) if quick else (10, 1_000_000_000, 1000, 100_000)
    per_pub = total // size // publishers
    live_rate = 50
    settings = {"limits": {"max_connections": 1000}}
    bounded = ctx.sidecar("flood-probe", settings).supports({"history": HISTORY_BOUNDS})
    if bounded:
        settings["history"] = dict(HISTORY_BOUNDS)
    sc = ctx.sidecar("flood", settings)
    f = Figures()
    f.raw.update(publishers=publishers, events_per_publisher=per_pub, size=size, topic_space=topic_space,
                 history_bounds=HISTORY_BOUNDS if bounded else None)
    sc.start()
    mon = Monitor(sc).start()
    try:
        rss_idle = sc.rss_kib()
        live_csv = ctx.tmp / "flood-live.csv"
        # The flood's length is not known beforehand: the live publisher runs long enough, and
        # its subscribers are stopped once the flood is over.
        live_s = 600
        live = ctx.lg.subscribe("flood-live", sc, "/events?topic=flood.live.0", 8, [
            "--check-sequence", "--sequence-from", "1", "--latency-csv", str(live_csv), "--sources", "1"])
        watchers = ctx.lg.subscribe("flood-watch", sc, "/events?topic=flood.{i}", 8, ["--sources", "1",
                                                                                      "--source-base", "127.0.0.3"])
        Loadgen.wait_ready([live, watchers])
        live_pub = ctx.lg.publish("flood-live-pub", sc, ["--topics", "flood.live.{i}", "--events",
                                                         str(live_rate * live_s), "--rate", str(live_rate),
                                                         "--size", "64", "--sequence"])
        time.sleep(3.0)
        t0 = time.time_ns()
        pubs = [ctx.lg.publish("flood-pub-%d" % i, sc, [
            "--topics", "flood.{i}", "--topic-count", str(topic_space), "--random-topics", "--seed", str(i + 1),
            "--events", str(per_pub), "--size", str(size), "--timeout", "120"]) for i in range(publishers)]
        reports = [Loadgen.report(p, 1800) for p in pubs]
        t1 = time.time_ns()
        time.sleep(3.0)
        Loadgen.interrupt(live_pub)
        lpr = Loadgen.report(live_pub, 60)
        time.sleep(1.0)
        for fl in (live, watchers):
            Loadgen.interrupt(fl[0])
        lr = Loadgen.report(live[0], 60)
        wr = Loadgen.report(watchers[0], 60)
        time.sleep(10.0)
        rss_after = sc.rss_kib()
        m_end = sc.metrics() or {}
    finally:
        mon.stop()
        ctx.procs.kill_all()
    sent = sum(r["sent"] for r in reports)
    ok = sum(r["ok"] for r in reports)
    refused = sum(r["errors"] for r in reports)
    missing = sum(r["missing_replies"] for r in reports)
    errors = sorted({e for r in reports for e in r["error_samples"]})[:5]
    seconds = (t1 - t0) / 1e9
    peak = mon.peak(t0, t1 + 15e9)
    growth = peak - rss_idle
    (l50, l99), _ = percentiles_from_csvs([live_csv], t0, t1)
    seq = lr.get("sequence") or {}
    history_peak = mon.metric_max("sse_history_bytes")
    f.add("lines sent / acknowledged / refused / unanswered", "%s / %s / %s / %s" % (
        fmt(sent), fmt(ok), fmt(refused), fmt(missing)), "every line answered", missing == 0 and ok + refused == sent)
    f.add("refusals, first reasons", "; ".join(errors) if errors else "none")
    f.add("flood duration (s); acknowledged events/s; MB/s in", "%s; %s; %s" % (
        fmt(seconds), fmt(ok / seconds if seconds else None), fmt(sent * size / 1e6 / seconds if seconds else None)))
    if bounded:
        bound_kib = 256 * 1024
        f.add("sidecar memory growth at its peak (MiB)", fmt(mib(growth)),
              "≤ 2 × history.max_total_bytes (%s MiB)" % fmt(2 * mib(bound_kib)), growth <= 2 * bound_kib)
    else:
        f.add("sidecar memory growth at its peak (MiB)", fmt(mib(growth)),
              "bounded by the config: this build has no total history bound (history.max_total_bytes), "
              "only history.max_bytes per topic", False)
    f.add("resident memory: idle / peak / 10 s after the flood (MiB)", "%s / %s / %s" % (
        fmt(mib(rss_idle)), fmt(mib(peak)), fmt(mib(rss_after))))
    f.add("retained history at its peak / at the end: MiB (topics)", "%s / %s (%s)" % (
        fmt(history_peak / 1048576 if history_peak is not None else None),
        fmt(m_end.get("sse_history_bytes", 0) / 1048576), fmt(int(m_end.get("sse_history_topics", 0)))))
    f.add("live streams during the flood: longest gap between events (s; 50 events/s)", fmt(lr["max_gap_ms"] / 1e3),
          "< 1 s", lr["max_gap_ms"] < 1000)
    f.add("live streams during the flood: latency p50 / p99 (ms)", "%s / %s" % (fmt(l50), fmt(l99)))
    f.add("live streams: events lost / duplicated / disconnected", "%s / %s / %s" % (
        fmt(seq.get("lost")), fmt(seq.get("duplicated")), fmt(lr["disconnected_early"] + lr["failed"])),
        "0 / 0 / 0", seq.get("lost") == 0 and seq.get("duplicated") == 0 and lr["disconnected_early"] + lr["failed"] == 0)
    f.add("streams on flood topics: events received (disconnected)", "%s (%s)" % (
        fmt(wr["events_received"]), fmt(wr["disconnected_early"] + wr["failed"])))
    f.raw.update(publishers_reports=reports, live_publisher=lpr, live=lr, watchers=wr, rss_idle_kib=rss_idle,
                 rss_peak_kib=peak, rss_after_kib=rss_after, metrics_end=m_end,
                 rss_series=[(t, k) for t, k, _ in mon.samples],
                 history_series=mon.metric_series("sse_history_bytes"))
    return f


# ---- fds ----

def fds_case(ctx, quick, name, max_connections):
    attempts, procs = (5000, 2) if quick else (25000, 3)
    connect_timeout = 20
    sc = ctx.sidecar(name, {"limits": {"max_connections": max_connections}})
    sc.start()
    out = {"attempts": attempts, "client_processes": procs, "max_connections": max_connections}
    mon = Monitor(sc).start()
    kept = PublishConnection(sc)  # opened before the storm, as an application's would be
    try:
        per = [attempts // procs + (1 if i < attempts % procs else 0) for i in range(procs)]
        t0 = time.time_ns()
        fleets = [ctx.lg.subscribe("%s-%d" % (name, i), sc, "/events?topic=fds.all", n, [
            "--idle", "--sources", "8", "--source-base", "127.0.%d.1" % (i + 1), "--max-pending", "2000",
            "--connect-timeout", str(connect_timeout), "--quiet"]) for i, n in enumerate(per)]
        ready = Loadgen.wait_ready(fleets, timeout=connect_timeout + 120)
        out["seconds_to_all_answered"] = (time.time_ns() - t0) / 1e9
        time.sleep(1.0)
        out["alive_while_full"] = sc.alive()
        t = time.monotonic()
        m = sc.metrics(timeout=5.0)
        out["metrics_while_full"] = m is not None
        out["metrics_seconds"] = time.monotonic() - t
        out["open_while_full"] = m.get("sse_connections_open") if m else None
        # A new publisher connection goes to another topic: the open streams' count is the kept
        # connection's one event.
        out["new_publisher_while_full"] = publish_one(sc, "fds.other", "while full")
        out["kept_publisher_while_full"] = kept.publish("fds.all", "while full")
        # Nothing is asked of it now: what it burns is its own doing.
        cpu0 = cpu_seconds(sc.proc.pid)
        time.sleep(3.0)
        out["cpu_cores_while_full"] = (cpu_seconds(sc.proc.pid) - cpu0) / 3.0
        reports = []
        for proc, _ in fleets:
            Loadgen.interrupt(proc)
        reports = [Loadgen.report(proc, 120) for proc, _ in fleets]
        t_closed = time.monotonic()
        # Full service again: the streams are gone (by the sidecar's own count), and a new
        # stream gets an event.
        drained_s = None
        while time.monotonic() - t_closed < 60:
            m = sc.metrics()
            if m is not None and m.get("sse_connections_open", 1) == 0:
                drained_s = time.monotonic() - t_closed
                break
            time.sleep(0.1)
        out["seconds_until_all_closed"] = drained_s
        probe = ctx.lg.subscribe(name + "-after", sc, "/events?topic=fds.after", 1,
                                 ["--expect-events", "1", "--timeout", "10", "--sources", "1", "--quiet"])
        Loadgen.wait_ready([probe], timeout=20)
        out["publish_after"] = publish_one(sc, "fds.after", "after")
        pr = Loadgen.report(probe[0], 30)
        out["new_stream_got_event"] = pr["events_received"] == 1
        out["seconds_to_full_service"] = time.monotonic() - t_closed
        out["alive_after"] = sc.alive()
    finally:
        kept.close()
        mon.stop()
        ctx.procs.kill_all()
        out["exit_status"] = sc.stop()
    out["connected"] = sum(c for c, _ in ready)
    out["failed"] = sum(fl for _, fl in ready)
    out["reasons"] = merged_reasons(reports)
    out["got_event_while_full"] = sum(r["events_received"] for r in reports)
    out["peak_open"] = mon.metric_max("sse_connections_open")
    out["refused_503"] = sum(n for reason, n in out["reasons"].items() if reason == "HTTP 503")
    counts = count_in_file(sc.log, [b"accept paused", b"Error from accept()"])
    out["log_accept_pauses"], out["log_libevent_accept_errors"] = counts
    out["log_bytes"] = trim_log(sc.log)
    out["peak_rss_kib"] = mon.peak()
    return out


def cpu_seconds(pid):
    """User and system CPU time of a process so far."""
    fields = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def count_in_file(path, needles, chunk=1 << 24):
    """How often each byte string occurs in a file, read in chunks (a log may be gigabytes)."""
    counts = [0] * len(needles)
    keep = max(len(n) for n in needles) - 1
    tail = b""
    with open(path, "rb") as f:
        while True:
            block = f.read(chunk)
            if not block:
                break
            data = tail + block
            for i, n in enumerate(needles):
                # Occurrences wholly inside the carried-over tail were counted last time.
                counts[i] += data.count(n) - tail.count(n)
            tail = data[-keep:] if keep else b""
    return counts


def trim_log(path, keep=1 << 20, limit=16 << 20):
    """The log's size; one larger than `limit` is cut to its first `keep` bytes afterwards, so a
    flood of log lines does not fill the temp dir."""
    size = os.path.getsize(path)
    if size > limit:
        with open(path, "r+b") as f:
            f.truncate(keep)
            f.seek(keep)
            f.write(b"\n[soak: cut here, the log had %d bytes]\n" % size)
    return size


def reply_text(reply):
    if reply.startswith('{"ok":true'):
        return "acknowledged"
    return "**%s**" % ("no reply within 5 s" if reply == "error: timed out" else reply[:60])


def fds(ctx, quick):
    """25k streams attempted at once on one topic, from 3 loadgen processes (8.3k each, each
    over 8 source addresses of its own: a process has 20k descriptors too), against a sidecar
    with the same 20k descriptor limit. Case "limit": limits.max_connections 19000, below the
    descriptor limit as docs/operations.md advises: the excess gets 503. Case "no limit":
    limits.max_connections 100000, above it, the careless setting: accept() fails with EMFILE
    and the sidecar pauses accepting (100 ms at a time); attempts left in the listen queue
    time out at the client after 20 s. While full: is the process alive, do /metrics and a new
    publish socket connection answer, does an event reach the open streams, and what CPU does
    the sidecar use over 3 s in which nothing is asked of it; its log lines are counted at the
    end. Then every client closes: how long until the sidecar counts no stream, and does a new
    stream get an event."""
    cases = [("fds-limit", 1900 if quick else 19000), ("fds-nolimit", 100000)]
    f = Figures()
    limit_fd = int(subprocess.run(["bash", "-c", "ulimit -n"], capture_output=True, text=True).stdout)
    f.raw["fd_limit"] = limit_fd
    for name, maxc in cases:
        log("fds: %s (max_connections %d)" % (name, maxc))
        r = fds_case(ctx, quick, name, maxc)
        f.raw[name] = r
        tag = "max_connections %d" % maxc
        other = {k: v for k, v in r["reasons"].items() if k != "HTTP 503"}
        f.add("[%s] attempts: streaming / 503 / other failures" % tag, "%s / %s / %s (%s)" % (
            fmt(r["connected"]), fmt(r["refused_503"]), fmt(sum(other.values())), counts_text(other)),
            "each streams or is refused (503, or left waiting by the accept back-off)", r["connected"] + r["failed"] == r["attempts"])
        f.add("[%s] seconds until every attempt streamed or failed" % tag, fmt(r["seconds_to_all_answered"]))
        yes = lambda b: "yes" if b else "**no**"
        f.add("[%s] sidecar alive while full / after / exit status on SIGTERM" % tag, "%s / %s / %s" % (
            yes(r["alive_while_full"]), yes(r["alive_after"]), r["exit_status"]), "yes / yes / 0",
            r["alive_while_full"] and r["alive_after"] and r["exit_status"] == 0)
        f.add("[%s] while full: /metrics answered (s)" % tag, "%s (%s)" % (
            "yes" if r["metrics_while_full"] else "**no**", fmt(r["metrics_seconds"])), "yes", r["metrics_while_full"])
        f.add("[%s] while full: publishing on a connection opened before / on a new connection" % tag,
              "%s / %s" % (reply_text(r["kept_publisher_while_full"]), reply_text(r["new_publisher_while_full"])),
              "both acknowledged", all(x.startswith('{"ok":true') for x in
                                       (r["kept_publisher_while_full"], r["new_publisher_while_full"])))
        f.add("[%s] while full: open streams that got the event (kept connection)" % tag, "%s of %s" % (
            fmt(r["got_event_while_full"]), fmt(r["connected"])), "all", r["got_event_while_full"] == r["connected"])
        f.add("[%s] after the clients closed: s until none open; s until a new stream got an event" % tag,
              "%s; %s" % (fmt(r["seconds_until_all_closed"]), fmt(r["seconds_to_full_service"])),
              "a new stream gets an event", r["new_stream_got_event"])
        f.add("[%s] while full and asked nothing: the sidecar's CPU (cores)" % tag,
              fmt(r["cpu_cores_while_full"]), "about 0", r["cpu_cores_while_full"] < 0.1)
        f.add("[%s] its log: MB written; 'accept paused' lines; libevent 'Error from accept()' lines" % tag,
              "%s; %s; %s" % (fmt(r["log_bytes"] / 1e6), fmt(r["log_accept_pauses"]),
                              fmt(r["log_libevent_accept_errors"])))
        f.add("[%s] peak resident memory (MiB)" % tag, fmt(mib(r["peak_rss_kib"])))
    return f


# ---- slow_headers ----

def slow_headers(ctx, quick):
    """5k connections send the start of a request (the request line and part of a header) and
    then nothing; every 10th of them drips one more byte a second (slowloris). Each is timed
    from its connect() to the sidecar's close (the sidecar answers 408 first), against
    limits.request_timeout (10 s, the default). Meanwhile 50 real streams get 20 numbered
    events a second, and a new stream is opened every 250 ms (time to its response head). The
    live streams' latency is compared between the 5 s before the half-sent requests and the
    time they are held."""
    count, timeout_s = (500, 2.0) if quick else (5000, 10.0)
    sc = ctx.sidecar("slow", {"limits": {"max_connections": count + 1000, "request_timeout": "%gs" % timeout_s}})
    f = Figures()
    f.raw.update(half_sent=count, request_timeout_s=timeout_s)
    sc.start()
    mon = Monitor(sc).start()
    prober = None
    try:
        csv = ctx.tmp / "slow-live.csv"
        live = ctx.lg.subscribe("slow-live", sc, "/events?topic=slow.live.0", 50, [
            "--check-sequence", "--sequence-from", "1", "--latency-csv", str(csv), "--sources", "1"])
        Loadgen.wait_ready([live])
        run_s = timeout_s + 20
        pub = ctx.lg.publish("slow-pub", sc, ["--topics", "slow.live.{i}", "--events", str(int(20 * run_s)),
                                              "--rate", "20", "--size", "64", "--sequence"])
        time.sleep(5.0)
        prober = NewStreamProber(sc.sse_port, "/events?topic=slow.new", 0.25).start()
        t_half = time.time_ns()
        half = HalfSentRequests(sc.sse_port, count, 10, sources=4)
        half.run(time.monotonic() + 3 * timeout_s + 10)
        t_half_end = time.time_ns()
        prober.stop()
        pr = Loadgen.report(pub, run_s + 60)
        time.sleep(1.0)
        Loadgen.interrupt(live[0])
        lr = Loadgen.report(live[0], 60)
    finally:
        mon.stop()
        if prober:
            prober.stop()
        ctx.procs.kill_all()
    closes = [c["closed_t"] - c["connect_t"] for c in half.conns if c["closed_t"] is not None]
    sent = [c for c in half.conns if c["sent_t"] is not None]
    drips = [c["closed_t"] - c["connect_t"] for c in half.conns if c["drip"] and c["closed_t"] is not None]
    statuses = {}
    for c in half.conns:
        statuses[c["status"] or "open"] = statuses.get(c["status"] or "open", 0) + 1
    early = sum(1 for v in closes if v < timeout_s - 0.05)
    late = sum(1 for v in closes if v > timeout_s + 1.0)
    (b50, b99), _ = percentiles_from_csvs([csv], t_half - 5e9, t_half)
    (d50, d99), _ = percentiles_from_csvs([csv], t_half, t_half_end)
    seq = lr.get("sequence") or {}
    f.add("half-sent requests sent / closed by the sidecar", "%s / %s" % (fmt(len(sent)), fmt(len(closes))),
          "all closed", len(closes) == count)
    f.add("time from connect to close: min / p50 / p99 / max (s)", "%s / %s / %s / %s" % (
        fmt(min(closes, default=None)), fmt(quantile(closes, 0.5)), fmt(quantile(closes, 0.99)),
        fmt(max(closes, default=None))), "at request_timeout (%g s): none before, none 1 s after" % timeout_s,
        early == 0 and late == 0 and bool(closes))
    f.add("… of them the drip-fed ones (one byte a second): min / max (s)", "%s / %s (%s)" % (
        fmt(min(drips, default=None)), fmt(max(drips, default=None)), fmt(len(drips))),
        "at request_timeout", bool(drips) and min(drips) >= timeout_s - 0.05 and max(drips) <= timeout_s + 1.0)
    f.add("answers before the close (status: connections)", counts_text(statuses))
    f.add("connect errors", counts_text(half.errors), "none", not half.errors)
    f.add("live streams' latency p50 / p99 before → while held (ms)", "%s / %s → %s / %s" % (
        fmt(b50), fmt(b99), fmt(d50), fmt(d99)))
    f.add("live streams: longest gap between events (s; 20 events/s)", fmt(lr["max_gap_ms"] / 1e3), "< 1 s",
          lr["max_gap_ms"] < 1000)
    f.add("live streams: events lost / duplicated / disconnected", "%s / %s / %s" % (
        fmt(seq.get("lost")), fmt(seq.get("duplicated")), fmt(lr["disconnected_early"] + lr["failed"])),
        "0 / 0 / 0", seq.get("lost") == 0 and seq.get("duplicated") == 0 and lr["disconnected_early"] + lr["failed"] == 0)
    f.add("new streams meanwhile: opened / failed; time to response head p50 / max (ms)", "%s / %s; %s / %s" % (
        fmt(len(prober.times)), fmt(sum(prober.failures.values())), fmt(quantile(prober.times, 0.5) * 1e3 if prober.times else None),
        fmt(max(prober.times) * 1e3 if prober.times else None)), "none failed, head < 1 s",
        not prober.failures and bool(prober.times) and max(prober.times) < 1.0)
    f.add("connections closed for slow headers (sse_connections_closed_total{reason=\"timeout\"})",
          fmt(int(delta(mon, 'sse_connections_closed_total{reason="timeout"}') or 0)))
    f.raw.update(close_times_s=sorted(closes), drip_close_times_s=sorted(drips), statuses=statuses,
                 connect_errors=half.errors, live=lr, publisher=pr, prober={"times_s": prober.times, "failures": prober.failures},
                 live_p99_ms={"before": b99, "during": d99})
    return f


# ---- the run and the report ----

SCENARIOS = {"soak": soak, "stalled": stalled, "flood": flood, "fds": fds, "slow_headers": slow_headers}
COMMANDS = {name: "scripts/soak --only %s" % name for name in SCENARIOS}
TITLES = {
    "soak": "Soak: 10k streams, 10 minutes, reconnects with Last-Event-ID",
    "stalled": "Stalled readers: 1k streams that stop reading among 9k fast ones",
    "flood": "Publisher flood: 10 socket publishers, 1 GB to random topics",
    "fds": "Descriptor exhaustion: 25k connection attempts against 20k descriptors",
    "slow_headers": "Slow headers: 5k half-sent requests",
}


class Context:
    def __init__(self, build, tmp):
        self.build = build
        self.tmp = tmp
        self.procs = Procs()
        self.lg = Loadgen(build, tmp, self.procs)
        self.sidecars = []

    def sidecar(self, name, settings):
        sc = Sidecar(self.build, self.tmp, name, settings)
        self.sidecars.append(sc)
        return sc

    def cleanup(self):
        self.procs.kill_all()
        for sc in self.sidecars:
            sc.stop()
        self.sidecars = []


def build_description():
    def git(*args):
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True).stdout.strip()
    commit = git("rev-parse", "--short", "HEAD")
    dirty = " with uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else ""
    return "`%s`%s" % (commit, dirty)


def machine_description():
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = int(Path("/proc/meminfo").read_text().splitlines()[0].split()[1]) // (1024 * 1024)
    try:
        debian = "Debian " + Path("/etc/debian_version").read_text().strip()
    except OSError:
        debian = platform.platform()
    nofile = subprocess.run(["bash", "-c", "ulimit -n"], capture_output=True, text=True).stdout.strip()
    return "%s; %d cores; %d GiB RAM; %s; Linux %s; descriptor limit %s" % (
        cpu, os.cpu_count(), mem, debian, platform.release(), nofile)


def section(name, result, quick):
    lines = ["<!-- soak:%s -->" % name, "## " + TITLES[name], ""]
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(result["time"]))
    lines.append("`%s%s`, %s, build %s; %.0f s; load average %.1f before, %.1f after (2 cores: above 2, "
                 "other work shared the machine)." % (COMMANDS[name], " --quick" if quick else "", when, result["build"],
                                                     result["seconds"], *result["load"]))
    lines.append("")
    if "error" in result:
        lines += ["The run failed: `%s`" % result["error"], ""]
    else:
        lines += ["| figure | this run | goal | met |", "|---|---|---|---|"]
        for row in result["figures"]["rows"]:
            met = "" if row["met"] is None else ("yes" if row["met"] else "**no**")
            lines.append("| %s | %s | %s | %s |" % (row["label"], row["value"], row["goal"], met))
        lines.append("")
    doc = " ".join(SCENARIOS[name].__doc__.split())
    lines += ["Method: " + doc, "", "<!-- /soak:%s -->" % name]
    return "\n".join(lines)


HEADER = """# Reliability under sustained, hostile and careless load

Figures from `scripts/soak` (see `scripts/soak.py`): each scenario starts a fresh sidecar
(Release build, `workers: 0`, so one stream worker per core) with a configuration of its own,
drives it with `sse-loadgen` (the many-stream clients, C++) and small Python clients, and reads
the sidecar's resident memory (VmRSS) and `/metrics` once a second. Clients and sidecar share
the machine's 2 cores, so absolute latencies include their contention. The raw data of a run
(every report, memory and metric series, logs) is in the temp dir it names at the end
(`results.json`). Each section says which build and command produced it; a run replaces only
the sections of the scenarios it ran. Nothing here runs in the test suite.

Machine: MACHINE.
"""
NOTES = ("<!-- notes -->", "<!-- /notes -->")


PLACEHOLDER = "Not measured yet: run `%s`."


def write_report(out, results, quick):
    """The header afresh, then one section per scenario in SCENARIOS order: this run's, or the
    one already in the file, or a placeholder; the hand-written notes between NOTES markers
    are kept as they are."""
    old = out.read_text() if out.exists() else ""

    def between(text, start, end):
        if start in text and end in text:
            return start + text.split(start, 1)[1].split(end, 1)[0] + end
        return None
    notes = between(old, NOTES[0], NOTES[1]) or "%s\n%s" % NOTES
    parts = [HEADER.replace("MACHINE", machine_description()).rstrip("\n"), notes]
    for name in SCENARIOS:
        start, end = "<!-- soak:%s -->" % name, "<!-- /soak:%s -->" % name
        if name in results:
            parts.append(section(name, results[name], quick))
        else:
            parts.append(between(old, start, end) or "%s\n## %s\n\n%s\n\n%s" % (
                start, TITLES[name], PLACEHOLDER % COMMANDS[name], end))
    out.write_text("\n\n".join(parts) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=str(ROOT / "build-release"))
    parser.add_argument("--only", help="comma-separated scenarios: " + ",".join(SCENARIOS))
    parser.add_argument("--quick", action="store_true", help="each scenario at small scale, to check the script")
    parser.add_argument("--out", help="the report (default docs/reliability.md; with --quick, the temp dir's)")
    args = parser.parse_args()
    wanted = args.only.split(",") if args.only else list(SCENARIOS)
    unknown = [w for w in wanted if w not in SCENARIOS]
    if unknown:
        parser.error("unknown scenario %s (known: %s)" % (", ".join(unknown), ", ".join(SCENARIOS)))
    build = Path(args.build).resolve()
    tmp = Path(tempfile.mkdtemp(prefix="sse-soak-"))
    out = Path(args.out) if args.out else (tmp / "reliability.md" if args.quick else ROOT / "docs" / "reliability.md")
    ctx = Context(build, tmp)
    results = {}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    build_text = build_description()
    try:
        for name in SCENARIOS:
            if name not in wanted:
                continue
            log("%s%s (temp dir %s)" % (name, " --quick" if args.quick else "", tmp))
            started = time.time()
            load_before = os.getloadavg()[0]
            try:
                figures = SCENARIOS[name](ctx, args.quick)
                results[name] = {"figures": figures.as_dict()}
            except Exception as e:  # a failed scenario is reported, not hidden
                log("%s failed: %s" % (name, e))
                results[name] = {"error": str(e)}
            finally:
                ctx.cleanup()
            results[name].update(time=started, build=build_text, seconds=time.time() - started, quick=args.quick,
                                 load=[load_before, os.getloadavg()[0]])
            for row in results[name].get("figures", {}).get("rows", []):
                met = "" if row["met"] is None else (" [met]" if row["met"] else " [NOT MET]")
                log("  %s: %s%s" % (row["label"], row["value"], met))
            (tmp / "results.json").write_text(json.dumps(results, indent=1))
    finally:
        ctx.cleanup()
    write_report(out, results, args.quick)
    log("report in %s, raw data in %s" % (out, tmp / "results.json"))
    failed = [n for n, r in results.items() if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
