#!/usr/bin/env python3
"""Side-by-side benchmark of sse-sidecar and Nchan (nginx) with the same client, sse-loadgen.

Run through scripts/bench, which builds a Release binary and installs nginx, the Nchan module
and gnuplot when missing. Each scenario runs against both servers in turn (sidecar, then
Nchan, alternating per repetition) on this machine, and the results go to bench/results.md
with a latency plot. Absolute numbers drift on shared machines; the ratios are the point.
The burst scenarios also time the whole burst and sample each server's memory (see burst()).
"""

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
SIDECAR_SSE = 17800
SIDECAR_ADMIN = 17801
NCHAN_PORT = 8081  # fixed by bench/nchan.conf.in, like the reference config
RSS_INTERVAL_S = 0.02  # how often a burst samples the server's memory
AFTER_S = 5.0  # a burst's "after" memory is read this long after its last delivery


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def wait_port(port, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on port %d" % port)


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


class RssSampler:
    """Samples rss_kib(pids) every RSS_INTERVAL_S on a thread, as (CLOCK_REALTIME ns, KiB)
    pairs, from start() until stop(). The pids are fixed up front: a server's processes do not
    change during a scenario, and looking them up again each time would cost more than reading
    their memory."""

    def __init__(self, pids):
        self.pids = pids
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while True:
            self.samples.append((time.time_ns(), rss_kib(self.pids)))
            if self._stop.wait(RSS_INTERVAL_S):
                return

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join()


class Sidecar:
    name = "sidecar"

    def __init__(self, build, tmp):
        self.bin = build / "sse-sidecar"
        self.tmp = tmp
        self.socket = tmp / "publish.sock"
        self.proc = None

    def start(self):
        config = self.tmp / "sidecar.yaml"
        config.write_text(
            "listen: {sse: \"127.0.0.1:%d\", admin: \"127.0.0.1:%d\"}\n"
            "workers: 0\n"
            "publish: {socket: \"%s\", max_line_bytes: 1MiB}\n"
            "access: {public_topics: [\"bench.*\"]}\n"
            "limits: {max_connections: 20000, subscriber_buffer_bytes: 4MiB}\n"
            "history: {max_events: 100}\n"
            "log: {level: warn}\n" % (SIDECAR_SSE, SIDECAR_ADMIN, self.socket))
        self.proc = subprocess.Popen([str(self.bin), "--config", str(config)],
                                     stderr=open(self.tmp / "sidecar.log", "ab"))
        wait_port(SIDECAR_SSE)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def pids(self):
        return [self.proc.pid]

    def sub_url(self, per_topic):
        return "http://127.0.0.1:%d/events?topic=bench.%s" % (SIDECAR_SSE, "{i}" if per_topic else "one")

    def pub_args(self, per_topic):
        return ["--target", "sidecar-socket:%s" % self.socket,
                "--topics", "bench.{i}" if per_topic else "bench.one"]


class Nchan:
    name = "nchan"

    def __init__(self, tmp):
        self.prefix = tmp / "nchan"
        self.conf = self.prefix / "nchan.conf"

    def start(self):
        (self.prefix / "logs").mkdir(parents=True, exist_ok=True)
        text = (ROOT / "bench" / "nchan.conf.in").read_text().replace("NCHAN_PREFIX", str(self.prefix))
        self.conf.write_text(text)
        subprocess.run(["nginx", "-c", str(self.conf), "-p", str(self.prefix) + "/"], check=True)
        wait_port(NCHAN_PORT)

    def stop(self):
        if self.conf.exists():
            subprocess.run(["nginx", "-s", "stop", "-c", str(self.conf), "-p", str(self.prefix) + "/"],
                           stderr=subprocess.DEVNULL)
            for _ in range(100):
                if not self.pids():
                    break
                time.sleep(0.1)

    def pids(self):
        # The master from its pid file, and its workers (where connections live).
        try:
            master = int((self.prefix / "nginx.pid").read_text().strip())
        except (OSError, ValueError):
            return []
        children = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()
        return [master] + [int(c) for c in children]

    def sub_url(self, per_topic):
        base = "http://127.0.0.1:%d" % NCHAN_PORT
        return base + ("/subm?id={i}" if per_topic else "/sub")

    def pub_args(self, per_topic):
        return ["--target", "nchan-http:http://127.0.0.1:%d" % NCHAN_PORT,
                "--topics", "{i}" if per_topic else "one"]


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
                         "--linger", str(AFTER_S + 1)])
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
    # The peak is over everything from the first publish to the "after" reading (or to the end,
    # when the run did not complete and so did not linger with its streams open).
    last = r["last_event_ts"]
    held_until = last + (AFTER_S + 1) * 1e9  # the subscribers close their streams then
    after = next((kib for t, kib in sampler.samples if last + AFTER_S * 1e9 <= t < held_until),
                 None) if r["lingered"] else None
    until = last + AFTER_S * 1e9 if after is not None else float("inf")
    peak = max([kib for t, kib in sampler.samples if t <= until] + [baseline])
    lat = r["latency_ns"]
    return {"deliveries_per_sec": r["deliveries_per_sec"],
            "first_publish_to_last_delivery_ms":
                (last - pub["first_send_ts"]) / 1e6 if r["events_received"] else None,
            "p50_ms": lat["p50"] / 1e6, "p99_ms": lat["p99"] / 1e6,
            "rss_growth_peak_mb": mb(peak - baseline),
            "rss_growth_after_mb": mb(after - baseline) if after is not None else None,
            "rss_baseline_mb": mb(baseline),
            "received": r["events_received"], "expected": r["expected"], "failed": r["failed"]}


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


def idle_memory(lg, server, subs=10000):
    before = rss_kib(server.pids())
    proc = lg.subscribe(server.sub_url(False), subs, ["--idle", "--timeout", "60"])
    time.sleep(2.0)
    after = rss_kib(server.pids())
    proc.send_signal(signal.SIGINT)
    r = lg.finish(proc)
    return {"kib_per_conn": (after - before) / max(1, r["connected"]), "rss_before_kib": before,
            "rss_after_kib": after, "connected": r["connected"]}


def connect_storm(lg, server, subs=19000):
    proc = lg.subscribe(server.sub_url(False), subs, ["--idle", "--timeout", "60"])
    proc.send_signal(signal.SIGINT)
    r = lg.finish(proc)
    return {"all_streaming_ms": r["time_to_all_connected_ms"], "failed": r["failed"],
            "connected": r["connected"]}


def single(lg, server, events=20):
    proc = lg.subscribe(server.sub_url(False), 1, ["--expect-events", str(events), "--timeout", "60"])
    time.sleep(0.5)
    lg.publish(server, False, ["--events", str(events), "--rate", "1", "--size", "64"])
    r = lg.finish(proc)
    lat = r["latency_ns"]
    return {"p50_ms": lat["p50"] / 1e6, "p99_ms": lat["p99"] / 1e6, "received": r["events_received"]}


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


@dataclass
class Scenario:
    name: str
    run: Callable  # (loadgen, server, tmp dir, quick) -> {metric: value}
    metric: str  # the headline
    higher: bool  # whether a higher headline is better
    desc: str
    figures: list = None  # rows of a table of its own below the summary, as BURST_FIGURES


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
    parser.add_argument("--only", help="comma-separated scenario names")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results.md"))
    args = parser.parse_args()
    build = Path(args.build)
    wanted = set(args.only.split(",")) if args.only else None
    tmp = Path(tempfile.mkdtemp(prefix="sse-bench-"))
    lg = Loadgen(build, tmp)
    servers = [Sidecar(build, tmp), Nchan(tmp)]
    results = {s.name: {} for s in servers}
    try:
        for sc in SCENARIOS:
            name = sc.name
            if wanted and name not in wanted:
                continue
            # Alternate which server goes first so neither always runs on a warmer machine.
            order = servers if len(results["sidecar"]) % 2 == 0 else list(reversed(servers))
            for server in order:
                log("%s: %s" % (name, server.name))
                server.start()
                try:
                    results[server.name][name] = sc.run(lg, server, tmp, args.quick)
                except Exception as e:  # a failed scenario is reported, not hidden
                    results[server.name][name] = {"error": str(e)}
                    log("%s on %s failed: %s" % (name, server.name, e))
                finally:
                    server.stop()
                log("  %s" % json.dumps(results[server.name][name]))
    finally:
        for s in servers:
            s.stop()
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


def write_report(results, out, tmp, quick):
    out.parent.mkdir(parents=True, exist_ok=True)
    png = out.with_name("latency.png")
    rows = []
    details = []
    for sc in SCENARIOS:
        metric = sc.metric
        s = results["sidecar"].get(sc.name)
        n = results["nchan"].get(sc.name)
        if s is None or n is None:
            continue
        sv, nv = s.get(metric), n.get(metric)
        fmt = lambda v, r: ("%.3g" % v if isinstance(v, float) else str(v)) if v is not None else ("error: " + r.get("error", "?"))
        shown = {metric, "csv", *(f[0] for f in sc.figures or ())}
        extra_s = ", ".join("%s %s" % (k, fmt(v, s)) for k, v in s.items() if k not in shown)
        extra_n = ", ".join("%s %s" % (k, fmt(v, n)) for k, v in n.items() if k not in shown)
        if sc.figures:
            extra_s, extra_n = [(e + "; " if e else "") + "more figures below" for e in (extra_s, extra_n)]
            details += ["### " + sc.desc.rsplit(" (", 1)[0], "", *figure_table(sc, s, n), ""]
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
    text += ["What bounds each scenario, with a profile: [analysis.md](analysis.md).", ""]
    out.write_text("\n".join(text))


if __name__ == "__main__":
    main()
