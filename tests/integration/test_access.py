"""Subscriber access control: static tokens, JWTs, signed URLs, anonymous public topics,
delegation to the application, CORS, and revocation of open streams on reload."""

import json
import os
import secrets
import shutil
import signal
import socket
import tempfile
import time
import unittest

from sidecar_harness import SidecarTestCase, SSEClient, deep_merge, wait_until
from auth_helpers import (AccessAssertions, DelegateApp, KeyPairs, claims, events_target,
                          hashed, jwt_hs256, jwt_unsigned, one_request, signed_url_query)

ALICE = "alice-static-token-0123456789abcdef"     # configured as it is
BOB = "bob-static-token-fedcba9876543210"         # configured as sha256:<hex>
UNKNOWN = "nobody-knows-this-token-5555555555"
COOKIE = "sse_token"

CLOSED_EXPIRED = 'sse_connections_closed_total{reason="expired"}'
CLOSED_REVOKED = 'sse_connections_closed_total{reason="revoked"}'


def bearer(token):
    return {"Authorization": "Bearer " + token}


def write_file(directory, name, content):
    path = os.path.join(directory, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(content)
    return path


# ---------------------------------------------------------------------------------------------
# 1. Static tokens


class StaticTokenTest(AccessAssertions, SidecarTestCase):
    def setUp(self):
        self.sc = self.start_sidecar({
            "access": {
                "public_topics": ["public.*"],
                "cookie": COOKIE,
                "tokens": [
                    {"token": ALICE, "subject": "alice", "topics": ["orders.*", "news.eu"]},
                    {"token": hashed(BOB), "subject": "bob", "topics": ["billing.acme"]},
                ],
            },
            "log": {"level": "debug"},
        })

    def test_plain_token_grants_exactly_its_topics(self):
        sc = self.sc
        for topics in (["orders.1"], ["orders.eu.deep"], ["orders.*"], ["news.eu"],
                       ["orders.1", "news.eu", "public.x"]):
            with self.subTest(topics=topics):
                self.assertEqual(self.get(sc, topics, bearer(ALICE)).status, 200)
        for topics in (["news.us"], ["news.*"], ["billing.acme"], ["*"], ["orders"],
                       ["orders.1", "news.us"]):
            with self.subTest(topics=topics):
                self.assertRefused(self.get(sc, topics, bearer(ALICE)), 403)
        # The stream gets its granted topics' events and nothing else.
        client = self.stream(sc, ["orders.*", "news.eu"], headers=bearer(ALICE))
        self.assertReceives(sc, client, "orders.42")
        self.publish(sc, "news.us", "not for alice")
        self.publish(sc, "billing.acme", "not for alice")
        self.assertReceives(sc, client, "news.eu")
        client.assert_no_event(0.2)

    def test_hashed_token_grants_exactly_its_topics(self):
        sc = self.sc
        client = self.stream(sc, ["billing.acme"], headers=bearer(BOB))
        self.assertReceives(sc, client, "billing.acme")
        for topics in (["billing.other"], ["billing.*"], ["orders.1"]):
            with self.subTest(topics=topics):
                self.assertRefused(self.get(sc, topics, bearer(BOB)), 403)
        # The configured hash is not itself a credential.
        self.assertRefused(self.get(sc, ["billing.acme"], bearer(hashed(BOB))), 401)

    def test_unknown_or_missing_token_is_401(self):
        sc = self.sc
        for name, headers, query in [
                ("bearer", bearer(UNKNOWN), None),
                ("query", None, "access_token=" + UNKNOWN),
                ("cookie", {"Cookie": "%s=%s" % (COOKIE, UNKNOWN)}, None),
                ("token prefix", bearer(ALICE[:-1]), None),
                ("token with suffix", bearer(ALICE + "x"), None),
                ("no credentials", None, None),
                ("basic scheme", {"Authorization": "Basic " + ALICE}, None),
                ("another cookie name", {"Cookie": "session=" + ALICE}, None)]:
            with self.subTest(case=name):
                answer = self.get(sc, ["orders.1"], headers, query)
                self.assertRefused(answer, 401)
                self.assertNotIn(ALICE, answer.body)

    def test_token_sources(self):
        sc = self.sc
        by_query = self.stream(sc, ["orders.q"], query="access_token=" + ALICE)
        by_cookie = self.stream(sc, ["orders.c"],
                                headers={"Cookie": "theme=dark; %s=%s; lang=en" % (COOKIE, ALICE)})
        by_header = self.stream(sc, ["billing.acme"], headers=bearer(BOB))
        self.assertReceives(sc, by_query, "orders.q")
        self.assertReceives(sc, by_cookie, "orders.c")
        self.assertReceives(sc, by_header, "billing.acme")
        # Each source grants that token's topics only.
        self.assertRefused(self.get(sc, ["billing.acme"], query="access_token=" + ALICE), 403)
        self.assertRefused(self.get(sc, ["orders.1"], {"Cookie": "%s=%s" % (COOKIE, BOB)}), 403)

    def test_tokens_never_logged(self):
        sc = self.sc
        keep = [self.stream(sc, ["orders.1"], headers=bearer(ALICE)),
                self.stream(sc, ["orders.2"], query="access_token=" + ALICE),
                self.stream(sc, ["billing.acme"], headers={"Cookie": COOKIE + "=" + BOB})]
        self.get(sc, ["news.us"], bearer(ALICE))
        self.get(sc, ["orders.1"], bearer(BOB))
        self.get(sc, ["orders.1"], bearer(UNKNOWN))
        self.get(sc, ["orders.1"], query="access_token=" + UNKNOWN)
        self.get(sc, ["orders.1"], {"Cookie": COOKIE + "=" + UNKNOWN})
        self.get(sc, ["bad topic!"], query="access_token=" + ALICE)
        for client in keep:
            client.close()
        wait_until(lambda: sc.metric("sse_connections_open") == 0, 5, message="streams closed")
        # Debug logging is on and does report the admitted streams...
        sc.wait_for_log("alice")
        log = sc.log()
        # ...but never a token, whole or in part.
        for secret in (ALICE, BOB, UNKNOWN, ALICE[:16], BOB[:16], UNKNOWN[:16]):
            self.assertNotIn(secret, log)


# ---------------------------------------------------------------------------------------------
# 2. JWT


class JwtTest(AccessAssertions, SidecarTestCase):
    ISSUER = "https://issuer.test"
    AUDIENCE = "sse-sidecar-tests"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.keydir = tempfile.mkdtemp(prefix="sse-it-keys-", dir="/tmp")
        cls.addClassCleanup(shutil.rmtree, cls.keydir, ignore_errors=True)
        cls.keys = KeyPairs(cls.keydir)
        cls.hs_secret = secrets.token_hex(32)  # 64 bytes
        cls.hs_file = write_file(cls.keydir, "hs256.key", cls.hs_secret)

    def setUp(self):
        self.sc = self.start_sidecar({
            "access": {
                "public_topics": ["public.*"],
                "jwt": {
                    "keys": [{"algorithm": "HS256", "file": self.hs_file},
                             {"algorithm": "RS256", "file": self.keys.rsa_public},
                             {"algorithm": "ES256", "file": self.keys.ec_public}],
                    "issuer": self.ISSUER,
                    "audience": self.AUDIENCE,
                    "leeway": "0s",
                },
            },
            "log": {"level": "debug"},
        })

    def claims(self, topics=("chat.room1", "user.u1.*"), **kw):
        base = {"iss": self.ISSUER, "aud": self.AUDIENCE}
        base.update(kw)
        return claims(sub=base.pop("sub", "u1"),
                      topics=list(topics) if isinstance(topics, tuple) else topics,
                      lifetime=base.pop("lifetime", 300), **base)

    def signers(self):
        return [("HS256", lambda c, h=None: jwt_hs256(self.hs_secret, c, h)),
                ("RS256", self.keys.rs256),
                ("ES256", self.keys.es256)]

    def test_each_algorithm_grants_its_topics_claim(self):
        sc = self.sc
        for alg, sign in self.signers():
            with self.subTest(alg=alg):
                token = sign(self.claims())
                client = self.stream(sc, ["chat.room1", "user.u1.inbox"], headers=bearer(token))
                self.assertReceives(sc, client, "chat.room1", alg)
                self.assertReceives(sc, client, "user.u1.inbox", alg)
                client.close()
                self.assertRefused(self.get(sc, ["chat.room2"], bearer(token)), 403)
                self.assertRefused(self.get(sc, ["chat.room1", "user.u2.inbox"], bearer(token)),
                                   403)
                # The token also works from the query string.
                self.assertEqual(self.get(sc, ["chat.room1"],
                                          query="access_token=" + token).status, 200)

    def test_space_separated_topics_claim(self):
        sc = self.sc
        for alg, sign in self.signers():
            with self.subTest(alg=alg):
                token = sign(self.claims(topics="chat.room1  user.u1.*"))
                client = self.stream(sc, ["user.u1.inbox"], headers=bearer(token))
                self.assertReceives(sc, client, "user.u1.inbox", alg)
                client.close()
                self.assertEqual(self.get(sc, ["chat.room1"], bearer(token)).status, 200)
                self.assertRefused(self.get(sc, ["chat.room"], bearer(token)), 403)

    def test_invalid_tokens_are_401(self):
        sc = self.sc
        now = int(time.time())
        hs = lambda c, h=None: jwt_hs256(self.hs_secret, c, h)
        with open(self.keys.rsa_public, encoding="utf-8") as f:
            rsa_public_pem = f.read()
        good = self.claims()
        cases = []
        for alg, sign in self.signers():
            cases += [
                (alg + " expired", sign(self.claims(exp=now - 60, iat=now - 600))),
                (alg + " wrong audience", sign(self.claims(aud="someone-else"))),
                (alg + " wrong issuer", sign(self.claims(iss="https://evil.test"))),
                (alg + " no issuer", sign({k: v for k, v in good.items() if k != "iss"})),
                (alg + " not yet valid", sign(self.claims(nbf=now + 3600))),
                (alg + " no subject", sign({k: v for k, v in good.items() if k != "sub"})),
                (alg + " no expiry", sign({k: v for k, v in good.items() if k != "exp"})),
            ]
            token = sign(good)
            head, payload, sig = token.split(".")
            forged = hs(self.claims(topics=["*"]))
            cases += [(alg + " payload swapped", ".".join([head, forged.split(".")[1], sig])),
                      (alg + " signature removed", head + "." + payload + ".")]
        other_keys = KeyPairs(tempfile.mkdtemp(prefix="sse-it-otherkeys-", dir="/tmp"))
        self.addCleanup(shutil.rmtree, other_keys.dir, ignore_errors=True)
        cases += [
            ("alg none", jwt_unsigned(good)),
            ("alg None", jwt_unsigned(good, alg="None")),
            ("alg none with a signature", jwt_unsigned(good) + hs(good).split(".")[2]),
            ("HS256 signed with the RS256 public key",
             jwt_hs256(rsa_public_pem, good)),
            ("HS256 signed with the RS256 public key, typ in lower case",
             jwt_hs256(rsa_public_pem, good, {"typ": "jwt"})),
            ("RS256 from another key", other_keys.rs256(good)),
            ("ES256 from another key", other_keys.es256(good)),
            ("HS256 wrong secret", jwt_hs256(self.hs_secret + "x", good)),
            ("HS384 unknown algorithm", jwt_hs256(self.hs_secret, good, {"alg": "HS384"})),
            ("unknown kid", hs(good, {"kid": "2026-01"})),
            ("two segments", ".".join(hs(good).split(".")[:2])),
        ]
        for name, token in cases:
            with self.subTest(case=name):
                answer = self.get(sc, ["chat.room1"], bearer(token))
                self.assertRefused(answer, 401)
                self.assertNotIn(token, answer.body)
        # The same claims properly signed are accepted (the refusals were for the reason shown).
        for alg, sign in self.signers():
            self.assertEqual(self.get(sc, ["chat.room1"], bearer(sign(good))).status, 200, alg)
        self.assertNotIn(hs(good).split(".")[2], sc.log())

    def test_public_key_as_hmac_secret_with_only_public_keys_configured(self):
        sc = self.start_sidecar({"access": {"jwt": {
            "keys": [{"algorithm": "RS256", "file": self.keys.rsa_public},
                     {"algorithm": "ES256", "file": self.keys.ec_public}]}}})
        good = claims(sub="u1", topics=["chat.*"])
        for path in (self.keys.rsa_public, self.keys.ec_public):
            with open(path, encoding="utf-8") as f:
                pem = f.read()
            for secret in (pem, pem.strip()):
                with self.subTest(key=os.path.basename(path), stripped=secret != pem):
                    self.assertRefused(self.get(sc, ["chat.room1"],
                                                bearer(jwt_hs256(secret, good))), 401)
        self.assertRefused(self.get(sc, ["chat.room1"], bearer(jwt_unsigned(good))), 401)
        self.assertEqual(self.get(sc, ["chat.room1"], bearer(self.keys.rs256(good))).status, 200)
        self.assertEqual(self.get(sc, ["chat.room1"], bearer(self.keys.es256(good))).status, 200)

    def test_audience_array(self):
        token = jwt_hs256(self.hs_secret, self.claims(aud=["other", self.AUDIENCE]))
        self.assertEqual(self.get(self.sc, ["chat.room1"], bearer(token)).status, 200)
        token = jwt_hs256(self.hs_secret, self.claims(aud=["other", "more"]))
        self.assertRefused(self.get(self.sc, ["chat.room1"], bearer(token)), 401)

    def test_token_within_the_leeway_is_not_admitted_only_to_expire_at_once(self):
        """Admission and the end of the stream must agree on the leeway: a token accepted
        because of access.jwt.leeway must not be told "expired" the moment its stream opens
        (EventSource would reconnect with it in a loop). Either it is refused (401), or its
        stream lasts until exp + leeway."""
        sc = self.start_sidecar({"access": {
            "jwt": {"keys": [{"algorithm": "HS256", "file": self.hs_file}], "leeway": "30s"}}})
        token = jwt_hs256(self.hs_secret, claims(sub="u1", topics=["chat.*"], lifetime=-10))
        client = SSEClient(sc.sse_port)
        self.track(client)
        client.request("GET", events_target(["chat.room1"]), headers=bearer(token))
        client.read_head()
        if client.status == 200:
            client.drain_available(1.0)
            self.assertEqual([e.event for e in client.pending_events()], [],
                             "a token admitted within the leeway was expired at once")
            self.assertFalse(client.eof)
        else:
            self.assertEqual(client.status, 401)

    def test_stream_ends_when_the_token_expires(self):
        sc = self.sc
        before = sc.metric(CLOSED_EXPIRED)
        clients = []
        for alg, sign in self.signers():
            token = sign(self.claims(exp=int(time.time()) + 2))
            clients.append(self.stream(sc, ["chat.room1"], headers=bearer(token)))
        # An unexpiring-enough stream stays.
        long_lived = self.stream(sc, ["chat.room1"],
                                 headers=bearer(jwt_hs256(self.hs_secret, self.claims())))
        event_id = self.publish(sc, "chat.room1", "before expiry")
        for client in clients + [long_lived]:
            self.assertEqual(client.next_event().id, event_id)
        for client in clients:
            notice = self.assertEndsWith(client, "sidecar.expired")
            self.assertIn("expired", json.loads(notice.data)["reason"])
        sc.wait_metric(CLOSED_EXPIRED, lambda v: v == before + len(clients))
        self.assertReceives(sc, long_lived, "chat.room1", "after expiry")
        self.assertFalse(long_lived.eof)

    def test_stream_ends_at_exp_not_up_to_a_second_later(self):
        exp = int(time.time()) + 2
        client = self.stream(self.sc, ["chat.room1"],
                             headers=bearer(jwt_hs256(self.hs_secret, self.claims(exp=exp))))
        self.assertEndsWith(client, "sidecar.expired")
        ended = time.time()
        self.assertGreaterEqual(ended, exp - 0.05, "ended before exp")
        self.assertLess(ended, exp + 0.3, "ended %.2f s after exp (leeway 0)" % (ended - exp))


# ---------------------------------------------------------------------------------------------
# 3. Signed URLs


class SignedUrlTest(AccessAssertions, SidecarTestCase):
    SECRET = "signed-url-secret-0123456789abcdef0123"

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sse-it-signed-", dir="/tmp")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        secret_file = write_file(self.tmp, "signed-url.key", self.SECRET)
        self.sc = self.start_sidecar({"access": {
            "public_topics": ["public.*"],
            "signed_urls": {"secret_file": secret_file, "max_lifetime": "1h"}}})

    def url(self, topics, subject="u7", expires=None, **tamper):
        expires = int(time.time()) + 600 if expires is None else expires
        return signed_url_query(self.SECRET, topics, subject, expires, **tamper)

    def open(self, target, expect_status=200):
        client = self.track(SSEClient(self.sc.sse_port))
        client.request("GET", target)
        client.read_head()
        self.assertEqual(client.status, expect_status, bytes(client.wire))
        client.wait_for(lambda: client.retry is not None, 5, "the opening retry:")
        return client

    def test_valid_url_streams_its_topics(self):
        sc = self.sc
        client = self.open(self.url(["orders.1", "chat.room1"]))
        self.assertReceives(sc, client, "orders.1")
        self.assertReceives(sc, client, "chat.room1")
        self.publish(sc, "orders.2", "not signed for")
        client.assert_no_event(0.2)
        # Public topics may be signed too.
        self.assertEqual(one_request(sc, self.url(["public.a", "orders.1"])).status, 200)

    def test_invalid_urls_are_401(self):
        sc = self.sc
        now = int(time.time())
        cases = [
            ("expired", self.url(["orders.1"], expires=now - 5)),
            ("topic changed", self.url(["orders.2"], sign_topics=["orders.1"])),
            ("topic added", self.url(["orders.1", "orders.2"], sign_topics=["orders.1"])),
            ("topic removed", self.url(["orders.1"], sign_topics=["orders.1", "orders.2"])),
            ("topics reordered", self.url(["b.1", "a.1"], sign_topics=["a.1", "b.1"])),
            ("topic widened to a pattern", self.url(["orders.*"], sign_topics=["orders.1"])),
            ("subject changed", self.url(["orders.1"], subject="admin", sign_subject="u7")),
            ("expires extended", self.url(["orders.1"], expires=now + 900,
                                          sign_expires=now + 60)),
            ("beyond max_lifetime", self.url(["orders.1"], expires=now + 7200)),
            ("wrong secret", signed_url_query(self.SECRET + "x", ["orders.1"], "u7", now + 60)),
            ("no subject", self.url(["orders.1"], subject="")),
        ]
        good = self.url(["orders.1"])
        cases += [("signature truncated", good[:-2]),
                  ("no expires", good.replace("&expires=", "&expiresX="))]
        for name, target in cases:
            with self.subTest(case=name):
                self.assertRefused(one_request(sc, target), 401)
        self.assertEqual(one_request(sc, good).status, 200)

    def test_stream_ends_at_expiry(self):
        sc = self.sc
        before = sc.metric(CLOSED_EXPIRED)
        expires = int(time.time()) + 2
        client = self.open(self.url(["orders.1"], expires=expires))
        plain = self.track(SSEClient(sc.sse_port, timeout=6))  # HTTP/1.0: ends by closing
        plain.request("GET", self.url(["orders.1"], expires=expires), http_version="1.0")
        plain.read_head()
        self.assertEqual(plain.status, 200, bytes(plain.wire))
        plain.wait_for(lambda: plain.retry is not None, 5, "the opening retry:")
        self.assertReceives(sc, client, "orders.1")
        self.assertEqual(plain.next_event().data, "to orders.1")
        self.assertEndsWith(client, "sidecar.expired")
        self.assertEndsWith(plain, "sidecar.expired")
        self.assertFalse(plain.reset)
        sc.wait_metric(CLOSED_EXPIRED, lambda v: v == before + 2)


class SignedUrlDisabledTest(AccessAssertions, SidecarTestCase):
    def test_signature_without_a_configured_secret_is_401(self):
        sc = self.start_sidecar()
        target = signed_url_query("whatever-secret", ["public.a"], "u7", int(time.time()) + 60)
        self.assertRefused(one_request(sc, target), 401)


# ---------------------------------------------------------------------------------------------
# 4. Anonymous access


class AnonymousTest(AccessAssertions, SidecarTestCase):
    def test_only_public_topics_without_credentials(self):
        sc = self.start_sidecar({"access": {
            "public_topics": ["public.*", "status"],
            "tokens": [{"token": ALICE, "subject": "alice", "topics": ["private.*"]}]}})
        client = self.stream(sc, ["public.a", "status"])
        self.assertReceives(sc, client, "public.a")
        self.assertReceives(sc, client, "status")
        self.assertEqual(self.get(sc, ["public.*"]).status, 200)
        for topics in (["private.a"], ["public.a", "private.a"], ["private.a", "public.a"],
                       ["*"], ["status.sub"], ["publicx"]):
            with self.subTest(topics=topics):
                self.assertRefused(self.get(sc, topics), 401)
        # With a token for the private topic, the mix is allowed and both arrive.
        mixed = self.stream(sc, ["public.a", "private.a"], headers=bearer(ALICE))
        self.assertReceives(sc, mixed, "public.a")
        self.assertReceives(sc, mixed, "private.a")

    def test_nothing_is_public_by_default(self):
        sc = self.start_sidecar({"access": {"public_topics": []}})
        self.assertRefused(self.get(sc, ["public.a"]), 401)


# ---------------------------------------------------------------------------------------------
# 5. Delegation to the application


GOOD = (200, {"subject": "u42", "topics": ["chat.room1", "user.u42.*"]})


class DelegationTest(AccessAssertions, SidecarTestCase):
    def setUp(self):
        self.app = DelegateApp({
            "good": GOOD,
            "other": GOOD,
            "banned": (403, {"reason": "account suspended"}),
            "stale": (401, {"reason": "session expired"}),
        })
        self.addCleanup(self.app.stop)

    def start(self, **delegate):
        settings = {"url": self.app.url, "timeout": "1s", "cache_ttl": "30s"}
        settings.update(delegate)
        # One worker: the cache is per worker, and the event loop must stay free while a call
        # is in flight.
        return self.start_sidecar({"workers": 1,
                                   "access": {"public_topics": ["public.*"],
                                              "delegate": settings}})

    def test_grants_exactly_the_topics_the_app_returns(self):
        sc = self.start()
        cookie = "session=good; theme=dark"
        client = self.stream(sc, ["chat.room1", "user.u42.inbox"], headers={
            "Cookie": cookie, "Origin": "https://app.test"})
        self.assertEqual(self.app.count(), 1)
        call = self.app.requests[0]
        self.assertEqual(call["path"], "/auth")
        self.assertEqual(call["headers"].get("cookie"), cookie)
        self.assertIn("application/json", call["headers"].get("content-type", ""))
        self.assertEqual(call["body"]["topics"], ["chat.room1", "user.u42.inbox"])
        self.assertEqual(call["body"]["origin"], "https://app.test")
        self.assertEqual(call["body"]["peer"], "127.0.0.1")
        self.assertReceives(sc, client, "chat.room1")
        self.assertReceives(sc, client, "user.u42.inbox")
        self.publish(sc, "chat.room2", "not granted")
        client.assert_no_event(0.2)
        # Topics the app did not grant: 403 even though the app said 200.
        for topics in (["chat.room2"], ["chat.room1", "user.u43.inbox"], ["chat.*"]):
            with self.subTest(topics=topics):
                self.assertRefused(self.get(sc, topics, {"Cookie": cookie}), 403)
        # Public topics mixed in need nothing more.
        self.assertEqual(self.get(sc, ["public.x", "chat.room1"], {"Cookie": cookie}).status,
                         200)
        # Public topics alone never reach the app.
        calls = self.app.count()
        self.assertEqual(self.get(sc, ["public.x"]).status, 200)
        self.assertEqual(self.app.count(), calls)

    def test_app_refusals_are_passed_on(self):
        sc = self.start()
        answer = self.get(sc, ["chat.room1"], {"Cookie": "session=banned"})
        self.assertRefused(answer, 403)
        self.assertIn("account suspended", answer.body)
        answer = self.get(sc, ["chat.room1"], {"Cookie": "session=stale"})
        self.assertRefused(answer, 401)
        self.assertIn("session expired", answer.body)
        self.assertRefused(self.get(sc, ["chat.room1"]), 401)
        self.assertEqual(self.app.count(), 3)

    def test_answers_are_cached(self):
        sc = self.start()
        headers = {"Cookie": "session=good"}
        first = self.stream(sc, ["chat.room1"], headers=headers)
        self.assertEqual(self.app.count(), 1)
        first.close()
        second = self.stream(sc, ["chat.room1"], headers=headers)
        self.assertReceives(sc, second, "chat.room1")
        self.assertEqual(self.app.count(), 1, "an identical request within cache_ttl asked again")
        # Refusals are cached too.
        self.assertRefused(self.get(sc, ["chat.room1"], {"Cookie": "session=banned"}), 403)
        self.assertRefused(self.get(sc, ["chat.room1"], {"Cookie": "session=banned"}), 403)
        self.assertEqual(self.app.count(), 2)
        # A different question (other topics, other cookie) is asked.
        self.assertEqual(self.get(sc, ["user.u42.x"], headers).status, 200)
        self.assertEqual(self.get(sc, ["chat.room1"], {"Cookie": "session=other"}).status, 200)
        self.assertEqual(self.app.count(), 4)

    def test_no_cache_with_zero_ttl(self):
        sc = self.start(cache_ttl="0s")
        for n in (1, 2):
            self.assertEqual(self.get(sc, ["chat.room1"], {"Cookie": "session=good"}).status, 200)
            self.assertEqual(self.app.count(), n)

    def test_app_timeout_is_503_and_nothing_else_waits(self):
        sc = self.start(timeout="1500ms", max_concurrent=1)
        self.app.hold = True
        waiting = self.track(SSEClient(sc.sse_port, timeout=8))
        waiting.request("GET", events_target(["chat.room1"]), headers={"Cookie": "session=good"})
        self.app.wait_for_requests(1)
        # max_concurrent calls are in flight: another question is answered 503 at once.
        busy = self.get(sc, ["chat.room1"], {"Cookie": "session=other"})
        self.assertRefused(busy, 503)
        self.assertTrue(busy.headers.get("retry-after", "").isdigit(), busy)
        self.assertEqual(self.app.count(), 1)
        # While the call is in flight (on the only worker): public streams open and receive,
        # the admin listener answers.
        public = self.stream(sc, ["public.x"])
        self.assertReceives(sc, public, "public.x")
        self.assertEqual(sc.admin_request("GET", "/healthz")[0], 200)
        waiting.sock.settimeout(0)  # a timeout would make recv wait for data first
        try:
            early = waiting.sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            early = None
        self.assertIsNone(early, "the delegated request was answered before the app did")
        waiting.read_head()
        waiting.read_body()
        self.assertEqual(waiting.status, 503, bytes(waiting.wire))
        self.assertTrue(waiting.headers.get("retry-after", "").isdigit(), waiting.headers)
        self.assertNotIn(b"retry:", bytes(waiting.wire))
        self.app.release()
        # A timeout is not cached: the app is asked again and now answers.
        self.app.hold = False
        self.assertEqual(self.get(sc, ["chat.room1"], {"Cookie": "session=good"}).status, 200)
        self.assertEqual(self.app.count(), 2)

    def test_app_down(self):
        sc = self.start()
        open_before = self.stream(sc, ["chat.room1"], headers={"Cookie": "session=good"})
        self.app.stop()
        answer = self.get(sc, ["chat.room1"], {"Cookie": "session=other"})
        self.assertRefused(answer, 503)
        self.assertTrue(answer.headers.get("retry-after", "").isdigit(), answer)
        # The open stream is unaffected, and so are public topics.
        self.assertReceives(sc, open_before, "chat.room1")
        self.assertEqual(self.get(sc, ["public.x"]).status, 200)
        self.assertEqual(sc.admin_request("GET", "/healthz")[0], 200)
        self.assertReceives(sc, open_before, "chat.room1", "still here")
        self.assertFalse(open_before.eof)


# ---------------------------------------------------------------------------------------------
# 6. CORS


class CorsTest(AccessAssertions, SidecarTestCase):
    LISTED = ["https://app.test", "https://*.example.com"]

    def start(self, **cors):
        settings = {"allow_origins": self.LISTED}
        settings.update(cors)
        return self.start_sidecar({"cors": settings})

    def origin(self, sc, origin, topics=("public.x",)):
        return self.get(sc, list(topics), {"Origin": origin} if origin is not None else None)

    def test_listed_origins_are_echoed(self):
        sc = self.start(allow_credentials=True)
        for origin in ("https://app.test", "https://a.example.com", "https://x.y.example.com"):
            with self.subTest(origin=origin):
                answer = self.origin(sc, origin)
                self.assertEqual(answer.status, 200, answer)
                self.assertEqual(answer.values("Access-Control-Allow-Origin"), [origin])
                self.assertIn("Origin", ",".join(answer.values("Vary")))
                self.assertEqual(answer.values("Access-Control-Allow-Credentials"), ["true"])
        # The stream itself works.
        client = self.stream(sc, ["public.x"], headers={"Origin": "https://a.example.com"})
        self.assertReceives(sc, client, "public.x")

    def test_other_origins_are_refused_before_any_stream_byte(self):
        sc = self.start(allow_credentials=True)
        for origin in ("https://example.com", "http://a.example.com", "https://a.example.com:8443",
                       "https://evilexample.com", "https://app.test.evil.com", "http://app.test",
                       "https://app.test:444", "https://a.example.com.evil.com", "null",
                       "https://a.example.com/"):
            with self.subTest(origin=origin):
                answer = self.origin(sc, origin)
                self.assertRefused(answer, 403)
                self.assertEqual(answer.values("Access-Control-Allow-Credentials"), [])
                self.assertNotIn(origin, answer.values("Access-Control-Allow-Origin"))
        # Even with valid credentials for the topic.
        sc2 = self.start_sidecar({"cors": {"allow_origins": self.LISTED},
                                  "access": {"tokens": [{"token": ALICE, "subject": "a",
                                                         "topics": ["private.*"]}]}})
        answer = self.get(sc2, ["private.a"], dict(bearer(ALICE), Origin="https://evil.test"))
        self.assertRefused(answer, 403)
        self.assertEqual(self.get(sc2, ["private.a"], dict(bearer(ALICE),
                                                           Origin="https://app.test")).status, 200)

    def test_refusals_for_an_allowed_origin_carry_its_cors_headers(self):
        sc = self.start()
        answer = self.origin(sc, "https://app.test", topics=["private.x"])
        self.assertRefused(answer, 401)
        self.assertEqual(answer.values("Access-Control-Allow-Origin"), ["https://app.test"])

    def test_default_port_is_the_same_origin(self):
        sc = self.start()
        answer = self.origin(sc, "https://a.example.com:443")
        self.assertEqual(answer.status, 200, answer)

    def test_no_credentials_header_unless_configured(self):
        sc = self.start(allow_credentials=False)
        answer = self.origin(sc, "https://app.test")
        self.assertEqual(answer.status, 200)
        self.assertEqual(answer.values("Access-Control-Allow-Origin"), ["https://app.test"])
        self.assertEqual(answer.values("Access-Control-Allow-Credentials"), [])

    def test_wildcard_never_gets_credentials(self):
        sc = self.start(allow_origins=["*", "https://app.test"], allow_credentials=True)
        answer = self.origin(sc, "https://anything.test")
        self.assertEqual(answer.status, 200, answer)
        self.assertEqual(answer.values("Access-Control-Allow-Origin"), ["*"])
        self.assertEqual(answer.values("Access-Control-Allow-Credentials"), [])
        answer = self.origin(sc, "https://app.test")
        self.assertEqual(answer.values("Access-Control-Allow-Origin"), ["https://app.test"])
        self.assertEqual(answer.values("Access-Control-Allow-Credentials"), ["true"])
        preflight = one_request(sc, "/events?topic=public.x", {
            "Origin": "https://anything.test", "Access-Control-Request-Method": "GET"},
            method="OPTIONS")
        self.assertEqual(preflight.status, 204, preflight)
        self.assertEqual(preflight.values("Access-Control-Allow-Origin"), ["*"])
        self.assertEqual(preflight.values("Access-Control-Allow-Credentials"), [])

    def test_requests_without_origin(self):
        sc = self.start()
        answer = self.origin(sc, None)
        self.assertEqual(answer.status, 200)
        self.assertEqual(answer.values("Access-Control-Allow-Origin"), [])
        strict = self.start(allow_no_origin=False)
        self.assertRefused(self.origin(strict, None), 403)
        self.assertEqual(self.origin(strict, "https://app.test").status, 200)

    def test_preflight(self):
        sc = self.start(allow_credentials=True, max_age="90s")
        answer = one_request(sc, "/events?topic=public.x", {
            "Origin": "https://a.example.com", "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization, last-event-id"}, method="OPTIONS")
        self.assertEqual(answer.status, 204, answer)
        self.assertEqual(answer.body, "")
        self.assertEqual(answer.values("Access-Control-Allow-Origin"), ["https://a.example.com"])
        self.assertEqual(answer.values("Access-Control-Allow-Credentials"), ["true"])
        methods = answer.values("Access-Control-Allow-Methods")
        self.assertEqual(len(methods), 1, answer)
        self.assertIn("GET", [m.strip() for m in methods[0].split(",")])
        allowed = answer.values("Access-Control-Allow-Headers")
        self.assertEqual(len(allowed), 1, answer)
        names = {h.strip().lower() for h in allowed[0].split(",")}
        self.assertLessEqual({"authorization", "last-event-id", "cache-control"}, names)
        self.assertEqual(answer.values("Access-Control-Max-Age"), ["90"], answer)
        refused = one_request(sc, "/events?topic=public.x", {
            "Origin": "https://evil.test", "Access-Control-Request-Method": "GET"},
            method="OPTIONS")
        self.assertRefused(refused, 403)
        self.assertEqual(refused.values("Access-Control-Allow-Origin"), [])


# ---------------------------------------------------------------------------------------------
# 7. Revocation on reload


class RevocationTest(AccessAssertions, SidecarTestCase):
    TOKEN_A = "token-a-revoked-on-reload-000000"
    TOKEN_B = "token-b-narrowed-on-reload-11111"

    def overrides(self, token_a=True, origins=("https://keep.test", "https://gone.test"),
                  b_topics=("priv.b", "priv.b2")):
        tokens = [{"token": self.TOKEN_B, "subject": "b", "topics": list(b_topics)}]
        if token_a:
            tokens.insert(0, {"token": self.TOKEN_A, "subject": "a", "topics": ["priv.a"]})
        return {"access": {"public_topics": ["public.*"], "tokens": tokens},
                "cors": {"allow_origins": list(origins)}}

    def test_reload_ends_exactly_the_streams_no_longer_allowed(self):
        sc = self.start_sidecar(self.overrides())
        a = self.stream(sc, ["priv.a"], headers=bearer(self.TOKEN_A))
        b_narrowed = self.stream(sc, ["priv.b2"], headers=bearer(self.TOKEN_B))
        b_kept = self.stream(sc, ["priv.b"], headers=bearer(self.TOKEN_B))
        gone_origin = self.stream(sc, ["public.x"], headers={"Origin": "https://gone.test"})
        kept_origin = self.stream(sc, ["public.x"], headers={"Origin": "https://keep.test"})
        anonymous = self.stream(sc, ["public.x"])
        revoked = [a, b_narrowed, gone_origin]
        kept = [b_kept, kept_origin, anonymous]
        before = sc.metric(CLOSED_REVOKED)

        sc.write_config(deep_merge(sc.overrides, self.overrides(
            token_a=False, origins=["https://keep.test"], b_topics=["priv.b"])))
        offset = len(sc.log())
        sc.signal(signal.SIGHUP)
        for client in revoked:
            self.assertEndsWith(client, "sidecar.revoked", timeout=3)
        # The main loop logs the reload after handing it to the workers, which may end the
        # streams first.
        wait_until(lambda: "configuration reloaded" in sc.log()[offset:],
                   message="the reload's log line")
        sc.wait_metric(CLOSED_REVOKED, lambda v: v == before + len(revoked))
        # The untouched streams keep receiving.
        self.assertReceives(sc, b_kept, "priv.b")
        event_id = self.publish(sc, "public.x", "after reload")
        for client in (kept_origin, anonymous):
            self.assertEqual(client.next_event().id, event_id)
            self.assertFalse(client.eof)
        # And the new rules apply to new requests.
        self.assertRefused(self.get(sc, ["priv.a"], bearer(self.TOKEN_A)), 401)
        self.assertRefused(self.get(sc, ["priv.b2"], bearer(self.TOKEN_B)), 403)
        self.assertRefused(self.get(sc, ["public.x"], {"Origin": "https://gone.test"}), 403)
        self.assertEqual(sc.metric(CLOSED_REVOKED), before + len(revoked))

    def test_reload_without_access_changes_revokes_nothing(self):
        sc = self.start_sidecar(self.overrides())
        clients = [self.stream(sc, ["priv.a"], headers=bearer(self.TOKEN_A)),
                   self.stream(sc, ["public.x"], headers={"Origin": "https://gone.test"})]
        sc.write_config(deep_merge(sc.overrides, {"stream": {"retry": "5s"}}))
        offset = len(sc.log())
        sc.signal(signal.SIGHUP)
        sc.wait_for_log("configuration reloaded", start=offset)
        self.assertReceives(sc, clients[0], "priv.a")
        self.assertReceives(sc, clients[1], "public.x")
        self.assertEqual(sc.metric(CLOSED_REVOKED), 0)


if __name__ == "__main__":
    unittest.main()
