"""Runs one example with its own sidecar: `scripts/demo chat|stocks|tasks`.

Makes a private runtime directory (publish socket, secrets, the sidecar config rendered from
examples/NAME/sidecar.yaml), starts the sidecar and the app, prints the URL to open, and stops
both on Ctrl-C or SIGTERM, removing the directory.

Ports: DEMO_APP_PORT (default per example: chat 8001, stocks 8002, tasks 8003),
DEMO_SSE_PORT (7700) and DEMO_ADMIN_PORT (7701). The sidecar binary is the first argument.
"""

import ctypes
import os
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

EXAMPLES = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_APP_PORTS = {"chat": 8001, "stocks": 8002, "tasks": 8003}
HOST = "127.0.0.1"
TRY = {
    "chat": "log in as alice here and as bob in a private window; alice and carol may also "
            "join #staff",
    "stocks": "watch the table tick; click a row to chart that symbol",
    "tasks": "log in, start a few jobs, then reload the page or drop the connection (right)",
}


class DemoError(Exception):
    pass


def port_from_env(name, default):
    text = os.environ.get(name, "")
    if not text:
        return default
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise DemoError("%s=%r is not a port number (1-65535)" % (name, text))
    return int(text)


def check_free(port, variable):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError as e:
            raise DemoError("port %d on %s is not free (%s); choose another with %s=PORT"
                            % (port, HOST, e.strerror, variable)) from e


try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before any fork
except (OSError, AttributeError):
    _prctl = None


def die_with_parent():
    """In the child: receive SIGTERM if the launcher itself dies (even by SIGKILL)."""
    if _prctl is not None:
        _prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG


def relay(stream, prefix):
    """Copies a child's output to ours, one prefixed line at a time. Reads to the end even when
    our own output is gone (a closed terminal or pipe), so the child never blocks on a full
    pipe."""
    for raw in iter(stream.readline, b""):
        try:
            sys.stdout.write("%s %s\n" % (prefix, raw.decode("utf-8", "replace").rstrip("\n")))
            sys.stdout.flush()
        except (OSError, ValueError):
            pass
    stream.close()


def wait_until(url, proc, what, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DemoError("%s exited with status %s while starting (see its output above)"
                            % (what, proc.returncode))
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise DemoError("%s did not answer %s within %.0f s" % (what, url, timeout))


class Demo:
    def __init__(self, name, sidecar_bin):
        self.name = name
        self.sidecar_bin = sidecar_bin
        self.dir = os.path.join(EXAMPLES, name)
        self.app_port = port_from_env("DEMO_APP_PORT", DEFAULT_APP_PORTS[name])
        self.sse_port = port_from_env("DEMO_SSE_PORT", 7700)
        self.admin_port = port_from_env("DEMO_ADMIN_PORT", 7701)
        if len({self.app_port, self.sse_port, self.admin_port}) != 3:
            raise DemoError("DEMO_APP_PORT, DEMO_SSE_PORT and DEMO_ADMIN_PORT must differ")
        self.runtime = None
        self.procs = []
        self.stopping = threading.Event()

    def start(self):
        for port, variable in ((self.app_port, "DEMO_APP_PORT"), (self.sse_port, "DEMO_SSE_PORT"),
                               (self.admin_port, "DEMO_ADMIN_PORT")):
            check_free(port, variable)
        self.runtime = tempfile.mkdtemp(prefix="sse-demo-%s-" % self.name)  # mode 0700
        secret_file = self.write_secret("jwt.secret", secrets.token_hex(32))
        webhook_secret_file = self.write_secret("webhook.secret", secrets.token_hex(32))
        publish_token = secrets.token_urlsafe(32)
        token_file = self.write_secret("publish.token", publish_token)
        socket_path = os.path.join(self.runtime, "publish.sock")
        app_origin = "http://%s:%d" % (HOST, self.app_port)
        config = self.render_config({
            "SSE_LISTEN": "%s:%d" % (HOST, self.sse_port),
            "ADMIN_LISTEN": "%s:%d" % (HOST, self.admin_port),
            "APP_ORIGIN": app_origin,
            # The same page opened as http://localhost:PORT (the app points it at the sidecar
            # under that name too, so cookies still reach it).
            "APP_ORIGIN_LOCALHOST": "http://localhost:%d" % self.app_port,
            "APP_URL": app_origin,
            "SOCKET": socket_path,
            "JWT_SECRET_FILE": secret_file,
            "WEBHOOK_SECRET_FILE": webhook_secret_file,
            "PUBLISH_TOKEN": publish_token,
        })

        check = subprocess.run([self.sidecar_bin, "--check-config", config],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
        if check.returncode != 0:
            raise DemoError("%s refuses examples/%s/sidecar.yaml:\n%s\n(a binary built from an "
                            "older checkout lacks newer settings: rebuild it with scripts/build)"
                            % (self.sidecar_bin, self.name,
                               check.stdout.decode("utf-8", "replace").rstrip()))

        sidecar = self.spawn("sidecar", [self.sidecar_bin, "--config", config])
        wait_until("http://%s:%d/readyz" % (HOST, self.admin_port), sidecar, "the sidecar")
        app = self.spawn(self.name, [
            sys.executable, "-u", os.path.join(self.dir, "app.py"),
            "--host", HOST, "--port", str(self.app_port),
            "--sse-url", "http://%s:%d" % (HOST, self.sse_port),
            "--admin-url", "http://%s:%d" % (HOST, self.admin_port),
            "--admin-token-file", token_file,
            "--socket", socket_path,
            "--jwt-secret-file", secret_file,
            "--webhook-secret-file", webhook_secret_file,
        ])
        wait_until("http://%s:%d/healthz" % (HOST, self.app_port), app, "the %s app" % self.name)
        line = "=" * 72
        print("%s\n  %s demo: open %s/\n  (%s)\n  sidecar: streams http://%s:%d, admin http://%s:%d"
              "\n  Ctrl-C stops it.\n%s" % (line, self.name, app_origin, TRY[self.name], HOST,
                                            self.sse_port, HOST, self.admin_port, line),
              flush=True)

    def write_secret(self, name, value):
        path = os.path.join(self.runtime, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(value)  # no newline: the sidecar uses the file's bytes as they are
        return path

    def render_config(self, values):
        with open(os.path.join(self.dir, "sidecar.yaml"), encoding="utf-8") as f:
            template = string.Template(f.read())
        try:
            text = template.substitute(values)
        except KeyError as e:
            raise DemoError("examples/%s/sidecar.yaml: unknown placeholder %s" % (self.name, e))
        except ValueError as e:
            raise DemoError("examples/%s/sidecar.yaml: %s (write a literal $ as $$)" % (self.name, e))
        path = os.path.join(self.runtime, "sidecar.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def spawn(self, label, argv):
        # A session of its own: Ctrl-C reaches only this launcher, which stops the children
        # in order; die_with_parent covers the launcher being killed outright.
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=die_with_parent, cwd=self.runtime)
        self.procs.append((label, proc))
        threading.Thread(target=relay, args=(proc.stdout, "[%s]" % label), daemon=True).start()
        return proc

    def wait(self):
        """Until a signal asks to stop (0) or a child exits on its own (1)."""
        while not self.stopping.wait(0.2):
            for label, proc in self.procs:
                if proc.poll() is not None:
                    print("demo: %s exited with status %s; stopping" % (label, proc.returncode),
                          flush=True)
                    return 1
        return 0

    def stop(self):
        # The app first (it publishes), then the sidecar, which ends every stream cleanly.
        # Both are asked at once and given ten seconds in all, so a slow app does not eat the
        # sidecar's drain: whoever is still running then is killed.
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 10
        for _, proc in reversed(self.procs):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs = []
        if self.runtime:
            shutil.rmtree(self.runtime, ignore_errors=True)
            self.runtime = None


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in DEFAULT_APP_PORTS:
        sys.exit("usage: demo.py chat|stocks|tasks SIDECAR_BINARY")
    name, sidecar_bin = sys.argv[1], sys.argv[2]
    demo = None
    status = 0

    def on_signal(signum, frame):
        if demo:
            demo.stopping.set()
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        demo = Demo(name, sidecar_bin)
        demo.start()
        status = demo.wait()
    except DemoError as e:
        print("demo: %s" % e, file=sys.stderr, flush=True)
        status = 2
    finally:
        if demo:
            started = bool(demo.procs)
            demo.stop()
            if started:
                print("demo: %s stopped" % name, flush=True)
    sys.exit(status)


if __name__ == "__main__":
    main()
