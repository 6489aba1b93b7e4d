'use strict';
// Origins: a page on a listed origin streams; a page on any other origin is refused by the
// sidecar itself (403 before any stream byte), not merely hidden by the browser.

const test = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const REFUSED = 'sse_connections_closed_total{reason="refused"}';

test('a listed origin streams, any other origin is refused', h.withScope(async (t, scope) => {
  const allowed = await scope.pageServer();
  const other = await scope.pageServer();
  const sc = await scope.sidecar({
    cors: { allow_origins: [allowed.origin, 'http://127.0.0.1:1'] },
    access: { public_topics: ['public.*'] },
  });
  const good = await scope.page();
  const bad = await scope.page();
  await good.goto(allowed.url());
  await bad.goto(other.url());
  const goodNet = await h.watchNetwork(good);
  const badNet = await h.watchNetwork(bad);

  const url = sc.eventsUrl('public.cors');
  await h.openStream(good, 's', url);
  await h.waitOpen(good, 's');
  const accepted = await goodNet.waitFor(h.exactly(url));
  assert.equal(accepted.requestHeaders.origin, allowed.origin);
  assert.equal(accepted.status, 200);
  assert.equal(accepted.responseHeaders['access-control-allow-origin'], allowed.origin);
  assert.match(accepted.responseHeaders['content-type'], /^text\/event-stream/);

  const refusedBefore = await sc.metric(REFUSED);
  await h.openStream(bad, 's', url);
  const refusal = await badNet.waitFor(h.exactly(url));
  assert.equal(refusal.requestHeaders.origin, other.origin);
  assert.equal(refusal.status, 403, 'the sidecar answers 403 to the other origin');
  assert.equal(refusal.responseHeaders['access-control-allow-origin'], undefined);
  assert.doesNotMatch(refusal.responseHeaders['content-type'] || '', /event-stream/);
  // EventSource reports the failure and gives up (a refused CORS check is fatal).
  const badState = await h.waitClosed(bad, 's');
  assert.ok(badState.errors >= 1);
  assert.equal(badState.opens, 0);
  await h.waitFor(async () => (await sc.metric(REFUSED)) > refusedBefore, { message: 'the refused counter to grow' });

  // Only the listed origin's stream is subscribed, and only it receives the event.
  const reply = await sc.publish({ topic: 'public.cors', data: 'for listed origins only' });
  assert.equal(reply.subscribers, 1);
  assert.deepEqual(await h.waitEvents(good, 's', 1), [{ type: 'message', data: 'for listed origins only', lastEventId: reply.id }]);
  assert.deepEqual((await h.streamState(bad, 's')).events, []);
}));

test('a wildcard origin list serves any page, without credentials', h.withScope(async (t, scope) => {
  const pages = await scope.pageServer();
  const sc = await scope.sidecar({ cors: { allow_origins: ['*'], allow_credentials: true } });
  const page = await scope.page();
  await page.goto(pages.url());
  const net = await h.watchNetwork(page);

  // Without credentials: allowed by "*" and answered "*".
  const anonUrl = sc.eventsUrl('public.star');
  await h.openStream(page, 'anon', anonUrl);
  await h.waitOpen(page, 'anon');
  assert.equal((await net.waitFor(h.exactly(anonUrl))).responseHeaders['access-control-allow-origin'], '*');

  // With credentials the browser needs the exact origin and Allow-Credentials: an origin
  // allowed only by "*" never gets them, so the browser refuses the stream.
  const credsUrl = sc.eventsUrl(['public.star', 'public.other']);
  await h.openStream(page, 'creds', credsUrl, { withCredentials: true });
  const state = await h.waitClosed(page, 'creds');
  assert.equal(state.opens, 0);
  const answer = await net.waitFor(h.exactly(credsUrl));
  assert.notEqual(answer.responseHeaders['access-control-allow-credentials'], 'true');
  assert.notEqual(answer.responseHeaders['access-control-allow-origin'], pages.origin);

  const reply = await sc.publish({ topic: 'public.star', data: 'star' });
  assert.deepEqual(await h.waitEvents(page, 'anon', 1), [{ type: 'message', data: 'star', lastEventId: reply.id }]);
  assert.deepEqual((await h.streamState(page, 'creds')).events, []);
}));
