"""A small JSON web application on the standard library, shared by the examples.

Each example is an ordinary request/response app: an App with routes, cookie sessions, its own
static page, and JSON errors with a clear message for every bad input. Nothing here knows about
Server-Sent Events; the apps only publish to the sidecar (sidecar_client.py).
"""

import argparse
import json
import mimetypes
import os
import re
import secrets
import signal
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from sidecar_client import PublishRefused, SidecarUnavailable

COMMON_STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
MAX_BODY_BYTES = 64 * 1024
NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,19}$")


class HttpError(Exception):
    """Ends a request with `status` and {"error": message, ...extra}."""

    def __init__(self, status, message, **extra):
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def check_name(value, what="name"):
    """A user or room name: 1-20 lowercase letters, digits, _ or -, starting with a letter."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise HttpError(400, "%s is missing" % what)
    if not isinstance(value, str):
        raise HttpError(400, "%s must be a string" % what)
    value = value.strip().lower()
    if not NAME_RE.match(value):
        raise HttpError(400, "%s must be 1-20 letters, digits, _ or -, starting with a "
                        "letter" % what)
    return value


class Request:
    def __init__(self, method, target, headers, body):
        parts = urlsplit(target)
        self.method = method
        self.path = parts.path
        self.query = parse_qs(parts.query)
        self.headers = headers
        self.body = body
        self.params = {}
        self.cookies = {}
        for part in (headers.get("Cookie") or "").split(";"):
            name, sep, value = part.strip().partition("=")
            if sep:
                self.cookies.setdefault(name, value)

    def json(self):
        """The body as a JSON object, or a 400 saying what is wrong with it."""
        if not self.body:
            raise HttpError(400, "the request body is empty; send a JSON object")
        try:
            value = json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise HttpError(400, "the request body is not valid JSON: %s" % e) from e
        if not isinstance(value, dict):
            raise HttpError(400, "the request body must be a JSON object")
        return value

    def arg(self, name, default=None):
        values = self.query.get(name)
        return values[0] if values else default


class Response:
    def __init__(self, status=200, body=b"", content_type="application/json", headers=None):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = list(headers or [])


def json_response(value, status=200, headers=None):
    body = json.dumps(value, separators=(",", ":")).encode("utf-8")
    return Response(status, body, "application/json; charset=utf-8", headers)


class Sessions:
    """Logged-in users by a random cookie value. The cookie is HttpOnly and, like every cookie,
    sent to every port of the host: the browser also presents it to the sidecar's stream
    listener when a page opens EventSource with {withCredentials: true}."""

    def __init__(self, cookie_name):
        self.cookie_name = cookie_name
        self._users = {}
        self._lock = threading.Lock()

    def login(self, user):
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._users[token] = user
        return token, "%s=%s; Path=/; HttpOnly; SameSite=Lax" % (self.cookie_name, token)

    def logout(self, request):
        with self._lock:
            self._users.pop(request.cookies.get(self.cookie_name, ""), None)
        return "%s=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0" % self.cookie_name

    def user(self, request):
        """The logged-in user of `request`, or None."""
        with self._lock:
            return self._users.get(request.cookies.get(self.cookie_name, ""))

    def require(self, request):
        user = self.user(request)
        if user is None:
            raise HttpError(401, "not logged in: log in first")
        return user


class App:
    """Routes, static files and the error handling every example shares.

    Routes are registered with @app.route("POST", "/api/rooms/<room>/messages"); a handler
    takes the Request (path parameters in request.params) and returns a Response or a JSON-able
    value. GET / serves static/index.html; /static/* the app's files; /common/* the shared ones.
    """

    def __init__(self, name, static_dir):
        self.name = name
        self.static_dir = static_dir
        self._routes = []
        self.config = {}
        self.route("GET", "/healthz")(lambda request: {"ok": True})
        self.route("GET", "/api/config")(self._page_config)

    def _page_config(self, request):
        """What the page needs to know, with the sidecar's URL under the host name the page was
        opened with (localhost or 127.0.0.1): cookies are per host name, so a page opened as
        localhost must reach the sidecar as localhost for its cookie to go along."""
        config = dict(self.config)
        sse = urlsplit(config.get("sse", ""))
        host = (request.headers.get("Host") or "").rsplit(":", 1)[0]
        loopback = ("127.0.0.1", "localhost")
        if sse.hostname in loopback and host in loopback and host != sse.hostname:
            config["sse"] = sse._replace(netloc="%s:%d" % (host, sse.port)).geturl()
        return config

    def route(self, method, pattern):
        regex = re.compile("^" + re.sub(r"<(\w+)>", r"(?P<\1>[^/]+)", pattern) + "$")

        def register(fn):
            self._routes.append((method, regex, fn))
            return fn
        return register

    def log(self, message):
        print(message, flush=True)

    # -- dispatch -----------------------------------------------------------------------------

    def handle(self, request):
        try:
            return self._dispatch(request)
        except HttpError as e:
            return json_response(dict({"error": e.message}, **e.extra), e.status)
        except SidecarUnavailable as e:
            self.log("sidecar unavailable: %s" % e)
            return json_response({"error": "the sidecar is not reachable (%s); is it running?"
                                  % e}, 503)
        except PublishRefused as e:
            self.log("sidecar refused an event: %s" % e)
            return json_response({"error": "the sidecar refused the event: %s" % e}, 502)
        except Exception:  # pylint: disable=broad-except
            traceback.print_exc()
            return json_response({"error": "internal error in the %s app; see its log"
                                  % self.name}, 500)

    def _dispatch(self, request):
        allowed = []
        for method, regex, fn in self._routes:
            match = regex.match(request.path)
            if not match:
                continue
            if method != request.method:
                allowed.append(method)
                continue
            request.params = match.groupdict()
            result = fn(request)
            return result if isinstance(result, Response) else json_response(result)
        if request.method in ("GET", "HEAD"):
            static = self._static(request.path)
            if static:
                return static
        if allowed:
            raise HttpError(405, "%s %s is not supported; use %s"
                            % (request.method, request.path, ", ".join(sorted(set(allowed)))))
        raise HttpError(404, "no such page or endpoint: %s %s" % (request.method, request.path))

    def _static(self, path):
        if path == "/":
            directory, name = self.static_dir, "index.html"
        elif path.startswith("/static/"):
            directory, name = self.static_dir, path[len("/static/"):]
        elif path.startswith("/common/"):
            directory, name = COMMON_STATIC, path[len("/common/"):]
        else:
            return None
        # Only plain file names of that directory: no "..", no subdirectories.
        if not name or "/" in name or name.startswith(".") or name not in os.listdir(directory):
            return None
        with open(os.path.join(directory, name), "rb") as f:
            body = f.read()
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind in ("application/javascript", "image/svg+xml"):
            kind += "; charset=utf-8"
        return Response(200, body, kind, [("Cache-Control", "no-cache")])

    # -- serving ------------------------------------------------------------------------------

    def serve(self, host, port):
        app = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "%s-example" % app.name

            def _handle(self):
                if self.headers.get("Transfer-Encoding"):
                    return self._send(json_response({"error": "send the body with a "
                                                     "Content-Length"}, 411))
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    length = -1
                if length < 0:
                    return self._send(json_response({"error": "bad Content-Length"}, 400))
                if length > MAX_BODY_BYTES:
                    self.close_connection = True
                    return self._send(json_response({"error": "request body over %d bytes"
                                                     % MAX_BODY_BYTES}, 413))
                body = self.rfile.read(length) if length else b""
                request = Request(self.command, self.path, self.headers, body)
                return self._send(app.handle(request))

            def _send(self, response):
                self.send_response(response.status)
                self.send_header("Content-Type", response.content_type)
                self.send_header("Content-Length", str(len(response.body)))
                self.send_header("X-Content-Type-Options", "nosniff")
                for name, value in response.headers:
                    self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(response.body)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                # A browser tab or a keep-alive client going away mid-request is routine,
                # not an error worth a traceback; anything else still gets one.
                if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
                    return
                super().handle_error(request, client_address)

        server = Server((host, port), Handler)

        def stop(signum, frame):
            # serve_forever runs on this thread: shut down from another one.
            threading.Thread(target=server.shutdown, daemon=True).start()
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.log("listening on http://%s:%d" % (host, port))
        try:
            server.serve_forever(poll_interval=0.2)
        finally:
            server.server_close()


def common_arguments(doc, port):
    """The command line every example app takes (scripts/demo passes all of them); `doc` is
    the app's docstring, whose first paragraph describes it."""
    parser = argparse.ArgumentParser(description=" ".join(doc.split("\n\n")[0].split()))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--sse-url", default="http://127.0.0.1:7700",
                        help="the sidecar's stream listener, as browsers reach it")
    parser.add_argument("--admin-url", default="http://127.0.0.1:7701",
                        help="the sidecar's admin listener")
    parser.add_argument("--admin-token-file", default="",
                        help="file holding a publisher token for the admin listener")
    parser.add_argument("--socket", default="/run/sse-sidecar/publish.sock",
                        help="the sidecar's publish socket")
    parser.add_argument("--jwt-secret-file", default="",
                        help="HMAC secret shared with the sidecar's access.jwt.keys (tasks)")
    parser.add_argument("--webhook-secret-file", default="",
                        help="secret the sidecar signs its presence webhook with (chat)")
    return parser


def read_secret(path):
    if not path:
        return ""
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8").strip()
    except OSError as e:
        sys.exit("cannot read %s: %s" % (path, e.strerror))


def now_ms():
    return int(time.time() * 1000)
