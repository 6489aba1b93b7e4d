"""GET /sidecar.js on the stream listener: the browser helper compiled into the binary, served
as public, cacheable, cross-origin readable JavaScript (ETag, 304, HEAD)."""

import hashlib
import os
import socket
import unittest

from sidecar_harness import REPO_ROOT, SidecarTestCase, SSEClient

SCRIPT_PATH = os.path.join(REPO_ROOT, "web", "sidecar.js")


class BrowserScriptTest(SidecarTestCase):
    def setUp(self):
        # Origins are restricted: the script is public all the same.
        self.sc = self.start_sidecar({"cors": {"allow_origins": ["https://app.example"]}})
        with open(SCRIPT_PATH, "rb") as f:
            self.script = f.read()

    def raw(self, request):
        """Sends `request` and returns everything the sidecar answers before it closes."""
        with socket.create_connection(("127.0.0.1", self.sc.sse_port), timeout=5) as s:
            s.sendall(request.encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return data
                data += chunk

    def exchange(self, method="GET", target="/sidecar.js", headers=None, version="1.1"):
        lines = ["%s %s HTTP/%s" % (method, target, version), "Host: 127.0.0.1"]
        lines += ["%s: %s" % kv for kv in (headers or {}).items()]
        data = self.raw("\r\n".join(lines) + "\r\n\r\n")
        head, sep, body = data.partition(b"\r\n\r\n")
        self.assertTrue(sep, "no complete response head: %r" % data[:200])
        status_line, *fields = head.decode("latin-1").split("\r\n")
        parsed = {}
        for field in fields:
            name, _, value = field.partition(":")
            self.assertNotIn(name.lower(), parsed, "header %s twice" % name)
            parsed[name.lower()] = value.strip()
        return int(status_line.split(" ")[1]), parsed, body

    def assertPublicScriptHeaders(self, headers):
        self.assertEqual(headers["cache-control"], "public, max-age=300")
        self.assertEqual(headers["access-control-allow-origin"], "*")
        self.assertEqual(headers["connection"], "close")
        self.assertRegex(headers["etag"], r'^"[0-9a-f]{16}"$')

    def test_get_serves_the_module_from_the_source_tree(self):
        status, headers, body = self.exchange(headers={"Origin": "https://elsewhere.example"})
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "text/javascript; charset=utf-8")
        self.assertEqual(int(headers["content-length"]), len(self.script))
        self.assertEqual(body, self.script, "the bytes of web/sidecar.js, whole")
        self.assertIn(b"export class SidecarStream", body)
        self.assertPublicScriptHeaders(headers)
        # The tag is a digest of the bytes: it changes with the script and only with it.
        digest = hashlib.sha256(self.script).hexdigest()[:16]
        self.assertEqual(headers["etag"], '"%s"' % digest)
        # A query string (a cache-busting version) names the same file.
        status, again, body = self.exchange(target="/sidecar.js?v=2")
        self.assertEqual((status, again["etag"], body), (200, headers["etag"], self.script))

    def test_http_1_0_client(self):
        status, headers, body = self.exchange(version="1.0")
        self.assertEqual(status, 200)
        self.assertEqual(body, self.script)

    def test_if_none_match_revalidates_to_304(self):
        _, headers, _ = self.exchange()
        etag = headers["etag"]
        for value in (etag, "W/" + etag, '"0000000000000000", ' + etag, "*"):
            with self.subTest(if_none_match=value):
                status, h304, body = self.exchange(headers={"If-None-Match": value})
                self.assertEqual(status, 304)
                self.assertEqual(body, b"")
                self.assertEqual(h304["etag"], etag)
                self.assertPublicScriptHeaders(h304)
                self.assertNotIn("content-length", h304)
        status, _, body = self.exchange(headers={"If-None-Match": '"0000000000000000"'})
        self.assertEqual((status, body), (200, self.script), "another tag gets the script")

    def test_head_has_the_headers_and_no_body(self):
        _, get_headers, _ = self.exchange()
        status, headers, body = self.exchange(method="HEAD")
        self.assertEqual(status, 200)
        self.assertEqual(body, b"", "HEAD sends no body")
        self.assertEqual(headers, get_headers)
        status, _, body = self.exchange(method="HEAD", headers={"If-None-Match": get_headers["etag"]})
        self.assertEqual((status, body), (304, b""))

    def test_other_methods_are_refused(self):
        for method in ("POST", "PUT", "OPTIONS", "DELETE"):
            with self.subTest(method=method):
                client = self.track(SSEClient(self.sc.sse_port))
                client.request(method, "/sidecar.js")
                client.read_body()
                self.assertEqual(client.status, 405)
                self.assertEqual(client.headers.get("allow"), "GET, HEAD")
                self.assertIn("GET and HEAD", self.assertOneLineBody(client))
                client.read_to_eof(timeout=3)

    def test_neighbouring_paths_are_not_the_script(self):
        for target in ("/sidecar.jsx", "/sidecar.js/", "/web/sidecar.js", "/events/sidecar.js"):
            with self.subTest(target=target):
                status, _, body = self.exchange(target=target)
                self.assertEqual(status, 404)
                self.assertNotIn(b"SidecarStream", body)

    def test_answers_count_as_answered_not_as_streams(self):
        for _ in range(3):
            self.assertEqual(self.exchange()[0], 200)
        self.sc.wait_metric('sse_connections_closed_total{reason="answered"}', lambda v: v == 3)
        self.sc.wait_metric("sse_connections_open", lambda v: v == 0)
        # And streams are not disturbed by it.
        stream = self.stream(self.sc, ["public.x"])
        self.assertEqual(stream.status, 200)


if __name__ == "__main__":
    unittest.main()
