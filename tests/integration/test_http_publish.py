"""Publishing over HTTP on the admin listener, and the admin listener's other answers."""

import json
import unittest

from sidecar_harness import SidecarTestCase, TOKEN, DELETE, parse_id


class HttpPublishTest(SidecarTestCase):
    def setUp(self):
        self.sc = self.start_sidecar({"publish": {"max_line_bytes": "4KiB"},
                                      "limits": {"max_event_bytes": "1KiB"}})
        self.client = self.stream(self.sc, ["public.h", "public.h2"])

    def test_publish_one_object(self):
        status, headers, body = self.sc.http_publish(
            {"topic": "public.h", "event": "greeting", "data": {"hello": "wörld"}, "ref": 7})
        self.assertEqual(status, 200, body)
        self.assertTrue(headers["content-type"].startswith("application/json"))
        self.assertEqual(set(body), {"ok", "id", "subscribers", "ref"})
        self.assertEqual((body["ok"], body["subscribers"], body["ref"]), (True, 1, 7))
        parse_id(body["id"])
        event = self.client.next_event()
        self.assertEqual((event.id, event.event, event.data),
                         (body["id"], "greeting", '{"hello":"wörld"}'))

    def test_publish_array(self):
        status, _, body = self.sc.http_publish([
            {"topic": "public.h", "data": "first", "ref": "a"},
            {"topics": ["public.h", "public.h2"], "data": "second", "ref": "b"},
            {"topic": "public.nobody", "data": "third"},
        ])
        self.assertEqual(status, 200, body)
        self.assertIsInstance(body, list)
        self.assertEqual(len(body), 3)
        self.assertTrue(all(r["ok"] for r in body), body)
        self.assertEqual([r.get("ref") for r in body], ["a", "b", None])
        self.assertEqual(body[2]["subscribers"], 0)
        self.assertIdsIncrease([r["id"] for r in body])
        events = self.client.read_events(2)
        self.assertEqual([(e.id, e.data) for e in events],
                         [(body[0]["id"], "first"), (body[1]["id"], "second")])
        self.client.assert_no_event(0.2)

    def test_publish_array_with_a_bad_element(self):
        status, _, body = self.sc.http_publish([
            {"topic": "public.h", "data": "good", "ref": 1},
            {"topic": "bad topic", "data": "bad", "ref": 2},
            {"topic": "public.h", "data": "also good", "ref": 3},
        ])
        self.assertEqual(status, 400, body)
        self.assertEqual([r["ok"] for r in body], [True, False, True])
        self.assertEqual([r["ref"] for r in body], [1, 2, 3])
        self.assertIn("error", body[1])
        events = self.client.read_events(2)
        self.assertEqual([e.data for e in events], ["good", "also good"])

    def test_publish_empty_array(self):
        status, _, body = self.sc.http_publish([])
        self.assertEqual((status, body), (200, []))

    def test_publish_raw_body(self):
        raw = "raw text\nsecond line ✓"
        status, _, body = self.sc.http_publish(raw, path="/publish/public.h?event=note",
                                               headers={"Content-Type": "text/plain"})
        self.assertEqual(status, 200, body)
        self.assertEqual((body["ok"], body["subscribers"]), (True, 1))
        event = self.client.next_event()
        self.assertEqual((event.id, event.event, event.data), (body["id"], "note", raw))
        # Without ?event: a plain message. A JSON-looking body stays text.
        status, _, body = self.sc.http_publish('{"not":"parsed"}', path="/publish/public.h2")
        self.assertEqual(status, 200, body)
        event = self.client.next_event()
        self.assertEqual((event.id, event.event, event.data),
                         (body["id"], "message", '{"not":"parsed"}'))
        # Empty body: an event with empty data.
        status, _, body = self.sc.http_publish(b"", path="/publish/public.h")
        self.assertEqual(status, 200, body)
        self.assertEqual(self.client.next_event().data, "")

    def test_publish_raw_percent_encoded_topic(self):
        status, _, body = self.sc.http_publish("x", path="/publish/public%2Eh")
        self.assertEqual(status, 200, body)
        self.assertEqual(self.client.next_event().id, body["id"])

    def test_publish_raw_refusals(self):
        for path, expected in [("/publish/bad%20topic", 400),
                               ("/publish/public.h?event=sidecar.x", 400),
                               ("/publish/public.h?event=a%0Ab", 400),
                               ("/publish/", 400)]:
            with self.subTest(path=path):
                status, _, body = self.sc.http_publish("data", path=path)
                self.assertEqual(status, expected, body)
                self.assertIs(body["ok"], False)
                self.assertTrue(body["error"])
        status, _, body = self.sc.http_publish("x" * 2000, path="/publish/public.h")
        self.assertEqual(status, 413, body)
        self.assertIs(body["ok"], False)
        self.client.assert_no_event(0.2)

    def test_authorization(self):
        message = {"topic": "public.h", "data": "x"}
        cases = [("missing", None, {}),
                 ("wrong token", "not-the-right-token-at-all", {}),
                 ("token prefix", TOKEN[:-1], {}),
                 ("token with suffix", TOKEN + "x", {}),
                 ("basic scheme", None, {"Authorization": "Basic " + TOKEN}),
                 ("bare token", None, {"Authorization": TOKEN})]
        before = self.sc.metric('sse_ingest_errors_total{kind="unauthorized"}')
        for name, token, headers in cases:
            with self.subTest(case=name):
                status, rh, body = self.sc.http_publish(message, token=token, headers=headers)
                self.assertEqual(status, 401, body)
                self.assertEqual(rh.get("www-authenticate"), "Bearer")
                self.assertIs(body["ok"], False)
                self.assertTrue(body["error"])
                self.assertNotIn(TOKEN, json.dumps(body))
        for name, path in [("raw", "/publish/public.h")]:
            status, _, _ = self.sc.http_publish("x", path=path, token="wrong-token-wrong-token")
            self.assertEqual(status, 401)
        self.client.assert_no_event(0.2)
        self.assertEqual(self.sc.metric('sse_ingest_errors_total{kind="unauthorized"}'),
                         before + len(cases) + 1)

    def test_body_too_large(self):
        body = json.dumps({"topic": "public.h", "data": "x" * 8000})
        status, _, _ = self.sc.http_publish(body)
        self.assertEqual(status, 413)
        # An event over max_event_bytes (in a body under max_line_bytes) is refused too.
        status, _, reply = self.sc.http_publish({"topic": "public.h", "data": "x" * 2000,
                                                 "ref": 1})
        self.assertEqual(status, 413, reply)
        self.assertEqual((reply["ok"], reply["ref"]), (False, 1))
        self.client.assert_no_event(0.2)
        # The listener still works.
        status, _, reply = self.sc.http_publish({"topic": "public.h", "data": "small"})
        self.assertEqual(status, 200, reply)

    def test_bad_json(self):
        for name, body, expected in [
                ("malformed", '{"topic": "public.h", ', 400),
                ("not JSON", "hello", 400),
                ("empty body", "", 400),
                ("scalar", "42", 400),
                ("missing topic", '{"data":"x"}', 400),
                ("unknown field", '{"topic":"public.h","what":1}', 400),
                ("id field", '{"topic":"public.h","id":"1-1"}', 400),
                ("reserved name", '{"topic":"public.h","event":"sidecar.x"}', 400)]:
            with self.subTest(case=name):
                status, rh, reply = self.sc.http_publish(body,
                                                         headers={"Content-Type":
                                                                  "application/json"})
                self.assertEqual(status, expected, reply)
                self.assertTrue(rh["content-type"].startswith("application/json"))
                self.assertIs(reply["ok"], False)
                self.assertTrue(reply["error"])
        self.client.assert_no_event(0.2)

    def test_methods_and_paths(self):
        sc = self.sc
        status, headers, _ = sc.admin_request("GET", "/publish")
        self.assertEqual(status, 405)
        self.assertIn("POST", headers.get("allow", ""))
        status, _, _ = sc.admin_request("GET", "/publish/public.h",
                                        headers={"Authorization": "Bearer " + TOKEN})
        self.assertEqual(status, 405)
        status, headers, _ = sc.admin_request("POST", "/healthz", body="")
        self.assertEqual(status, 405)
        self.assertIn("GET", headers.get("allow", ""))
        for path in ("/", "/nope", "/publishx", "/events", "/metrics/extra"):
            with self.subTest(path=path):
                status, _, _ = sc.admin_request("GET", path)
                self.assertEqual(status, 404)
                status, _, _ = sc.http_publish({"topic": "public.h"}, path=path)
                self.assertEqual(status, 404)
        self.client.assert_no_event(0.2)

    def test_keep_alive_connection_publishes_several(self):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.sc.admin_port, timeout=5)
        self.addCleanup(conn.close)
        ids = []
        for i in range(5):
            conn.request("POST", "/publish", body=json.dumps({"topic": "public.h",
                                                              "data": str(i)}),
                         headers={"Authorization": "Bearer " + TOKEN})
            resp = conn.getresponse()
            self.assertEqual(resp.status, 200)
            ids.append(json.loads(resp.read())["id"])
        self.assertEqual([e.id for e in self.client.read_events(5)], ids)


class HttpPublishDisabledTest(SidecarTestCase):
    def test_no_tokens_configured_is_403(self):
        sc = self.start_sidecar({"publish": {"tokens": DELETE}})
        client = self.stream(sc, ["public.h"])
        for token in (TOKEN, None):
            status, _, body = sc.http_publish({"topic": "public.h", "data": "x"}, token=token)
            self.assertEqual(status, 403, body)
            self.assertIs(body["ok"], False)
        status, _, _ = sc.http_publish("x", path="/publish/public.h")
        self.assertEqual(status, 403)
        client.assert_no_event(0.2)
        # The socket still publishes.
        self.assertTrue(self.publisher(sc).publish("public.h", "socket")["ok"])

    def test_several_tokens(self):
        other = "another-publisher-token-abcdef"
        sc = self.start_sidecar({"publish": {"tokens": [TOKEN, other]}})
        for token in (TOKEN, other):
            status, _, body = sc.http_publish({"topic": "public.h"}, token=token)
            self.assertEqual(status, 200, body)


class AdminEndpointsTest(SidecarTestCase):
    def test_health_and_readiness(self):
        sc = self.start_sidecar()
        status, headers, body = sc.admin_request("GET", "/healthz")
        self.assertEqual((status, body), (200, b"ok\n"))
        status, _, body = sc.admin_request("GET", "/readyz")
        self.assertEqual((status, body), (200, b"ready\n"))
        status, _, body = sc.admin_request("HEAD", "/healthz")
        self.assertEqual(status, 200)


if __name__ == "__main__":
    unittest.main()
