'use strict';
// Subscriber credentials from a real browser: a session cookie sent with
// EventSource({withCredentials: true}) and checked by the app through delegation, and tokens
// (static and JWT) in the access_token parameter. Topics not granted are refused with 403.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./harness');

/**
 * The app's side of delegation: POST /auth answers from the `session` cookie, like a web app
 * that knows its logged-in users. GET /login sets that cookie and serves the probe page.
 */
function appRoutes(sessions) {
  const routes = {
    '/auth': (req, res) => {
      const cookie = req.headers.cookie || '';
      const session = /(?:^|;\s*)session=([^;]*)/.exec(cookie)?.[1];
      const grant = sessions[session];
      const [status, body] = grant ? [200, grant] : [401, { reason: 'not logged in' }];
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    },
  };
  for (const session of Object.keys(sessions)) {
    routes[`/login/${session}`] = {
      headers: { 'Content-Type': 'text/html; charset=utf-8', 'Set-Cookie': `session=${session}; Path=/; HttpOnly; SameSite=Lax` },
      body: h.probePage(`logged in as ${sessions[session].subject}`),
    };
  }
  return routes;
}

test('a session cookie sent withCredentials is checked by the app through delegation', h.withScope(async (t, scope) => {
  const app = await scope.pageServer(appRoutes({
    's-alice': { subject: 'alice', topics: ['user.alice.*', 'chat.*'] },
  }));
  const sc = await scope.sidecar({
    access: {
      public_topics: [],
      delegate: { url: app.url('/auth'), forward_headers: ['Cookie'], timeout: '2s', cache_ttl: '0s' },
    },
    cors: { allow_origins: [app.origin], allow_credentials: true },
  });
  const page = await scope.page();
  await page.goto(app.url('/login/s-alice'));
  const net = await h.watchNetwork(page);
  const authCalls = () => app.requests.filter((r) => r.path === '/auth');

  // With credentials: the browser sends the cookie, the sidecar forwards it, the app grants.
  const inbox = sc.eventsUrl('user.alice.inbox');
  await h.openStream(page, 'inbox', inbox, { withCredentials: true });
  await h.waitOpen(page, 'inbox');
  const opened = await net.waitFor(h.exactly(inbox));
  assert.match(opened.requestHeaders.cookie, /(^|; )session=s-alice(;|$)/);
  assert.equal(opened.responseHeaders['access-control-allow-origin'], app.origin);
  assert.equal(opened.responseHeaders['access-control-allow-credentials'], 'true');
  assert.equal(authCalls().length, 1);
  const call = authCalls()[0];
  assert.equal(call.method, 'POST');
  assert.match(call.headers.cookie, /(^|; )session=s-alice(;|$)/);
  assert.deepEqual(JSON.parse(call.body).topics, ['user.alice.inbox']);
  assert.equal(JSON.parse(call.body).origin, app.origin);

  const first = await sc.publish({ topic: 'user.alice.inbox', data: 'for alice' });
  assert.equal(first.subscribers, 1);
  assert.deepEqual(await h.waitEvents(page, 'inbox', 1), [{ type: 'message', data: 'for alice', lastEventId: first.id }]);

  // Without credentials the browser sends no cookie to another origin: the app says 401, and
  // so does the sidecar.
  const anonymous = sc.eventsUrl(['user.alice.inbox', 'chat.lobby']);
  await h.openStream(page, 'anonymous', anonymous);
  const refusedAnonymous = await net.waitFor(h.exactly(anonymous));
  assert.equal(refusedAnonymous.requestHeaders.cookie, undefined);
  assert.equal(refusedAnonymous.status, 401);
  assert.equal((await h.waitClosed(page, 'anonymous')).opens, 0);
  assert.equal(authCalls().length, 2);
  assert.equal(authCalls()[1].headers.cookie, undefined);

  // With the cookie, but for a topic the app did not grant: 403.
  const other = sc.eventsUrl('user.bob.inbox');
  await h.openStream(page, 'other', other, { withCredentials: true });
  const refusedOther = await net.waitFor(h.exactly(other));
  assert.equal(refusedOther.status, 403);
  assert.equal((await h.waitClosed(page, 'other')).opens, 0);

  const second = await sc.publish({ topic: 'user.alice.inbox', data: 'again' });
  assert.equal(second.subscribers, 1, 'only the credentialed stream is subscribed');
  assert.equal((await sc.publish({ topic: 'user.bob.inbox', data: 'for bob' })).subscribers, 0);
  assert.equal((await sc.publish({ topic: 'chat.lobby', data: 'chat' })).subscribers, 0);
  assert.deepEqual(await h.waitEvents(page, 'inbox', 2), [
    { type: 'message', data: 'for alice', lastEventId: first.id },
    { type: 'message', data: 'again', lastEventId: second.id },
  ]);
  assert.deepEqual((await h.streamState(page, 'anonymous')).events, []);
  assert.deepEqual((await h.streamState(page, 'other')).events, []);
}));

const STATIC_TOKEN = 'dashboard-stream-token-0123456789';
const JWT_SECRET = 'browser-test-hs256-secret-0123456789-abcdef';

test('tokens in access_token: a static token and a JWT, each for its topics only', h.withScope(async (t, scope) => {
  const keyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sse-browser-key-'));
  scope.defer(() => fs.rmSync(keyDir, { recursive: true, force: true }));
  const keyFile = path.join(keyDir, 'hs256.key');
  fs.writeFileSync(keyFile, JWT_SECRET, { mode: 0o600 });

  const pages = await scope.pageServer();
  const sc = await scope.sidecar({
    access: {
      public_topics: [],
      tokens: [{ token: STATIC_TOKEN, subject: 'dashboard', topics: ['metrics.*'] }],
      jwt: { keys: [{ algorithm: 'HS256', file: keyFile }] },
    },
    cors: { allow_origins: [pages.origin] },
  });
  const now = Math.floor(Date.now() / 1000);
  const jwt = h.hs256Jwt(JWT_SECRET, { sub: 'reader', topics: ['feed.*'], iat: now, exp: now + 300 });
  const forged = h.hs256Jwt(`${JWT_SECRET}-wrong`, { sub: 'reader', topics: ['feed.*', 'metrics.*'], iat: now, exp: now + 300 });

  const page = await scope.page();
  await page.goto(pages.url());
  const net = await h.watchNetwork(page);

  const streams = {
    metrics: { url: sc.eventsUrl('metrics.cpu', { access_token: STATIC_TOKEN }), status: 200 },
    feed: { url: sc.eventsUrl(['feed.news', 'feed.sport'], { access_token: jwt }), status: 200, events: ['headline'] },
    staticNotGranted: { url: sc.eventsUrl(['metrics.cpu', 'secret.plans'], { access_token: STATIC_TOKEN }), status: 403 },
    jwtNotGranted: { url: sc.eventsUrl('metrics.cpu', { access_token: jwt }), status: 403 },
    forgedJwt: { url: sc.eventsUrl('feed.news', { access_token: forged }), status: 401 },
    noToken: { url: sc.eventsUrl('metrics.cpu'), status: 401 },
  };
  for (const [name, { url, events }] of Object.entries(streams)) await h.openStream(page, name, url, { events });
  for (const [name, { url, status }] of Object.entries(streams)) {
    assert.equal((await net.waitFor(h.exactly(url))).status, status, `${name}: HTTP status`);
    if (status === 200) await h.waitOpen(page, name);
    else assert.equal((await h.waitClosed(page, name)).opens, 0, `${name}: EventSource gave up`);
  }

  const cpu = await sc.publish({ topic: 'metrics.cpu', data: '{"load":0.42}' });
  assert.equal(cpu.subscribers, 1, 'only the static token stream reads metrics.cpu');
  const news = await sc.publish({ topic: 'feed.news', event: 'headline', data: 'JWT ✓' });
  const sport = await sc.publish({ topic: 'feed.sport', data: 'score 2:1' });
  assert.equal((await sc.publish({ topic: 'secret.plans', data: 'nobody' })).subscribers, 0);

  assert.deepEqual(await h.waitEvents(page, 'metrics', 1), [{ type: 'message', data: '{"load":0.42}', lastEventId: cpu.id }]);
  assert.equal(news.subscribers, 1);
  assert.deepEqual(await h.waitEvents(page, 'feed', 2), [
    { type: 'headline', data: 'JWT ✓', lastEventId: news.id },
    { type: 'message', data: 'score 2:1', lastEventId: sport.id },
  ]);
  for (const name of ['staticNotGranted', 'jwtNotGranted', 'forgedJwt', 'noToken']) {
    assert.deepEqual((await h.streamState(page, name)).events, [], `${name}: no events`);
  }
}));
