'use strict';
// The browser helper sidecar.js, imported by pages of another origin from the sidecar's own
// /sidecar.js: tabs of one origin share one stream connection (a leader elected with Web
// Locks relays over a BroadcastChannel), a closed leader is replaced without losing or
// repeating an event, topic changes keep the place, short-lived JWTs are renewed before they
// expire (or at once after a sidecar.expired), and sidecar.missed reaches onMissed.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./harness');

const JWT_SECRET = 'browser-test-hs256-secret-for-sidecar-js-0123456789';

/**
 * A page that imports the module from the sidecar and opens one SidecarStream. Its query
 * string says how: topic=... (repeated), named=<event name> (repeated), share=0, last=<id>
 * (lastEventId), token=<path> (the token callback fetches that path of the page's own origin),
 * expires=later (the callback returns {token, expiresAt} an hour ahead), nolocks=1 (as a browser without Web Locks). The page records in window.rec: messages, named
 * events (window.listen(name) listens to one more), notices, onMissed calls, token calls.
 */
function tabPage(sidecar) {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>tab</title></head><body>
<script type="module">
const q = new URLSearchParams(location.search);
if (q.get('nolocks') === '1') Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined });
const { SidecarStream } = await import(${JSON.stringify(`${sidecar.sseUrl}/sidecar.js`)});
const rec = { got: [], named: [], notices: [], missed: [], tokens: 0 };
window.rec = rec;
const options = {
  topics: q.getAll('topic'),
  share: q.get('share') !== '0',
  onMissed: (info) => rec.missed.push(info),
};
if (q.get('last')) options.lastEventId = q.get('last');
if (q.get('token')) {
  options.token = async (topics) => {
    rec.tokens++;
    const res = await fetch(q.get('token') + '?' + new URLSearchParams(topics.map((t) => ['topic', t])));
    const token = await res.text();
    // expires=later: the callback says the token lasts an hour, whatever its exp says.
    return q.get('expires') === 'later' ? { token, expiresAt: new Date(Date.now() + 3600e3) } : token;
  };
}
const s = new SidecarStream(${JSON.stringify(`${sidecar.sseUrl}/events`)}, options);
window.stream = s;
s.addEventListener('message', (e) => rec.got.push({ data: e.data, id: e.lastEventId }));
const named = (type) => (e) => rec.named.push({ type, data: e.data, id: e.lastEventId });
for (const type of q.getAll('named')) s.on(type, named(type));
window.listen = (type) => s.on(type, named(type));
for (const type of ['sidecar.missed', 'sidecar.expired', 'sidecar.revoked']) {
  s.on(type, (e) => rec.notices.push({ type, data: e.data, id: e.lastEventId }));
}
</script></body></html>
`;
}

/** The page server with /tab.html for `holder.sidecar` (started after it) and any routes. */
async function tabServer(scope, holder, routes = {}) {
  return scope.pageServer({
    '/tab.html': (req, res) => {
      const body = tabPage(holder.sidecar);
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(body);
    },
    ...routes,
  });
}

function tabUrl(server, topics, params = {}) {
  const q = new URLSearchParams();
  for (const t of [].concat(topics)) q.append('topic', t);
  for (const [k, v] of Object.entries(params)) q.append(k, v);
  return server.url(`/tab.html?${q}`);
}

async function openTab(scope, context, url) {
  const page = await scope.page(context);
  await page.goto(url);
  await page.waitForFunction(() => window.stream?.readyState === 1, null, { timeout: 15000, polling: 20 });
  return page;
}

const got = (page) => page.evaluate(() => window.rec.got);
const datas = (events) => events.map((e) => e.data);

async function waitGot(page, count, { timeoutMs = 15000 } = {}) {
  try {
    await page.waitForFunction((k) => window.rec.got.length >= k, count, { timeout: timeoutMs, polling: 20 });
  } catch (err) {
    const events = await got(page);
    throw new Error(`${events.length} of ${count} events after ${timeoutMs} ms: ${JSON.stringify(datas(events).slice(-10))}`);
  }
  return got(page);
}

// A sidecar with the test's default access, and the app serving the tabs, allowed by CORS.
async function plainSidecar(scope) {
  const holder = {};
  const app = await tabServer(scope, holder);
  const sc = await scope.sidecar({ cors: { allow_origins: [app.origin] } });
  holder.sidecar = sc;
  return { app, sc };
}

const seq = (id) => Number(/^\d+-(\d+)$/.exec(id)[1]);

test('ten tabs of one origin share one stream connection, and every tab gets every event', h.withScope(async (t, scope) => {
  const { app, sc } = await plainSidecar(scope);
  const context = await scope.context();
  const pages = [];
  for (let i = 0; i < 10; i++) pages.push(await openTab(scope, context, tabUrl(app, 'public.share', { named: 'price' })));
  const leaders = await Promise.all(pages.map((p) => p.evaluate(() => window.stream.leader)));
  assert.equal(leaders.filter(Boolean).length, 1, `one leader: ${leaders}`);
  assert.ok((await pages[3].evaluate(() => window.stream.shared)), 'the stream is shared');

  const published = [];
  for (let i = 0; i < 20; i++) {
    const reply = await sc.publish({ topic: 'public.share', data: `event ${i}` });
    // The sidecar counts the streams subscribed to the topic: one for all ten tabs.
    assert.equal(reply.subscribers, 1, `subscribers of event ${i}`);
    published.push({ data: `event ${i}`, id: reply.id });
  }
  for (const [i, page] of pages.entries()) {
    assert.deepEqual(await waitGot(page, 20), published, `tab ${i}`);
  }
  // Named events: the leader listens for every name any tab listens for, from the start or
  // added later by one tab only.
  const price = await sc.publish({ topic: 'public.share', event: 'price', data: '42.5' });
  const follower = pages[leaders.indexOf(false)];
  await follower.evaluate(() => window.listen('late'));
  const late = [];
  await h.waitFor(async () => {
    const data = `late ${late.length}`;
    const reply = await sc.publish({ topic: 'public.share', event: 'late', data });
    late.push({ type: 'late', data, id: reply.id });
    return (await follower.evaluate(() => window.rec.named.some((e) => e.type === 'late')));
  }, { intervalMs: 50, message: 'the leader relaying a name one tab began to listen to' });
  const lastLate = await sc.publish({ topic: 'public.share', event: 'late', data: 'late last' });
  for (const [i, page] of pages.entries()) {
    await page.waitForFunction((n) => window.rec.named.length >= n, page === follower ? 2 : 1, { timeout: 15000 });
    const events = await page.evaluate(() => window.rec.named);
    const expected = [{ type: 'price', data: '42.5', id: price.id }];
    // The follower: every late event from the first it got on, and the one after.
    if (page === follower) {
      const first = late.findIndex((e) => e.id === events[1].id);
      assert.ok(first >= 0, `tab ${i}: ${JSON.stringify(events)}`);
      expected.push(...late.slice(first), { type: 'late', data: 'late last', id: lastLate.id });
      await page.waitForFunction((n) => window.rec.named.length >= n, expected.length, { timeout: 15000 });
    }
    assert.deepEqual(await page.evaluate(() => window.rec.named), expected, `tab ${i}: named events`);
  }
  assert.equal((await got(pages[0])).length, 20, 'named events are not messages');
  // The script fetches are closed as soon as they are answered: what stays is the stream.
  await h.waitFor(async () => (await sc.metric('sse_connections_open')) === 1, { message: 'one open connection' });
  assert.equal(await sc.metric('sse_connections_open'), 1);
}));

test('without Web Locks each tab falls back to its own EventSource', h.withScope(async (t, scope) => {
  const { app, sc } = await plainSidecar(scope);
  const context = await scope.context();
  const pages = [];
  for (let i = 0; i < 2; i++) pages.push(await openTab(scope, context, tabUrl(app, 'public.alone', { nolocks: 1 })));
  for (const page of pages) assert.equal(await page.evaluate(() => window.stream.shared), false);
  const reply = await sc.publish({ topic: 'public.alone', data: 'to both' });
  assert.equal(reply.subscribers, 2);
  for (const page of pages) assert.deepEqual(await waitGot(page, 1), [{ data: 'to both', id: reply.id }]);
}));

test('closing the leader tab hands over: every other tab has every event once, in order', h.withScope(async (t, scope) => {
  const { app, sc } = await plainSidecar(scope);
  const context = await scope.context();
  const pages = [];
  for (let i = 0; i < 5; i++) pages.push(await openTab(scope, context, tabUrl(app, 'public.handover')));
  const warm = await sc.publish({ topic: 'public.handover', data: 'warm-up' });
  for (const page of pages) await waitGot(page, 1);
  const published = [{ data: 'warm-up', id: warm.id }];
  // Numbered events without pause, whatever the tabs are doing: some are published while the
  // old leader's stream is gone and the new one's is not there yet.
  let stop = false;
  const pump = (async () => {
    while (!stop) {
      const data = String(published.length);
      const reply = await sc.publish({ topic: 'public.handover', data });
      published.push({ data, id: reply.id });
      await h.sleep(2);
    }
  })();
  const leads = () => Promise.all(pages.map((p) => p.evaluate(() => window.stream.leader)));
  try {
    await h.waitFor(() => published.length > 30, { message: '30 events' });
    const leaderIndex = (await leads()).indexOf(true);
    assert.ok(leaderIndex >= 0, 'a leader');
    const [leader] = pages.splice(leaderIndex, 1);
    await leader.close();
    await h.waitFor(async () => (await leads()).includes(true), { timeoutMs: 20000, message: 'a tab taking over' });
    const taken = published.length;
    await h.waitFor(() => published.length > taken + 30, { message: '30 more events' });
  } finally {
    stop = true;
    await pump;
  }
  for (const [i, page] of pages.entries()) {
    const events = await waitGot(page, published.length);
    assert.equal(events.length, published.length, `tab ${i}: no event twice`);
    assert.deepEqual(events, published, `tab ${i}: every event, in order`);
  }
  assert.equal((await leads()).filter(Boolean).length, 1, 'one new leader');
  // The new leader resumed with last_event_id: one stream again.
  const last = await sc.publish({ topic: 'public.handover', data: 'last' });
  assert.equal(last.subscribers, 1);
}));

test('addTopic and removeTopic keep the place: nothing lost or repeated, a removed topic stops', h.withScope(async (t, scope) => {
  const { app, sc } = await plainSidecar(scope);
  const [A, B] = ['public.topic-a', 'public.topic-b'];
  const context = await scope.context();
  const mover = await openTab(scope, context, tabUrl(app, A));
  const stayer = await openTab(scope, context, tabUrl(app, A));
  // Already on the set the mover joins: when the mover is behind that set's connection, the
  // connection goes back to the mover's place, and this tab must not see the replay twice.
  const watcher = await openTab(scope, context, tabUrl(app, [A, B]));

  // Events on both topics, without pause, while the mover changes its topics.
  const published = [];
  let stop = false;
  let holding = false;
  let idle = false;
  const pump = (async () => {
    for (let i = 0; !stop; i++) {
      while (holding && !stop) {
        idle = true;
        await h.sleep(2);
      }
      idle = false;
      const topic = i % 2 ? B : A;
      const data = `${topic === A ? 'a' : 'b'}${i}`;
      const reply = await sc.publish({ topic, data });
      published.push({ topic, data, id: reply.id });
      await h.sleep(3);
    }
  })();
  try {
    await waitGot(mover, 10);
    // The set the mover joins is ahead of it (a B event it never had): its connection goes
    // back to the mover's place, replaying that event to the watcher, which had it already.
    holding = true;
    await h.waitFor(() => idle, { message: 'the publisher pausing' });
    const ahead = await sc.publish({ topic: B, data: 'b-ahead' });
    published.push({ topic: B, data: 'b-ahead', id: ahead.id });
    await watcher.waitForFunction(() => window.rec.got.some((e) => e.data === 'b-ahead'), null, { timeout: 15000 });
    const added = await mover.evaluate((topic) => {
      const at = window.stream.lastEventId;
      window.stream.addTopic(topic);
      return { at, count: window.rec.got.length, topics: window.stream.topics };
    }, B);
    holding = false;
    assert.deepEqual(added.topics.sort(), [A, B]);
    await waitGot(mover, added.count + 20);
    const removed = await mover.evaluate((topic) => {
      const at = window.stream.lastEventId;
      window.stream.removeTopic(topic);
      return { at, count: window.rec.got.length, topics: window.stream.topics };
    }, A);
    assert.deepEqual(removed.topics, [B]);
    await waitGot(mover, removed.count + 10);
    stop = true;
    await pump;

    // Markers after everything: each tab receives its own, so anything late is there by then.
    const endA = await sc.publish({ topic: A, data: 'end-a' });
    const endB = await sc.publish({ topic: B, data: 'end-b' });
    published.push({ topic: A, data: 'end-a', id: endA.id }, { topic: B, data: 'end-b', id: endB.id });
    const after = (id, place) => seq(id) > seq(place);
    // The mover: A until it removed A, B from where it was when it added B.
    const expectMover = published.filter((e) => (e.topic === A && !after(e.id, removed.at)) || (e.topic === B && after(e.id, added.at)));
    const expectStayer = published.filter((e) => e.topic === A);
    await mover.waitForFunction(() => window.rec.got.some((e) => e.data === 'end-b'), null, { timeout: 15000 });
    await stayer.waitForFunction(() => window.rec.got.some((e) => e.data === 'end-a'), null, { timeout: 15000 });
    await watcher.waitForFunction(() => window.rec.got.some((e) => e.data === 'end-b'), null, { timeout: 15000 });
    assert.deepEqual(datas(await got(mover)), datas(expectMover), 'the mover');
    assert.deepEqual(datas(await got(stayer)), datas(expectStayer), 'the tab that kept its topic');
    assert.deepEqual(datas(await got(watcher)), datas(published), 'the tab on both topics');
    assert.ok(after(ahead.id, added.at), 'the mover had not had the event ahead of it');
    assert.ok(expectMover.some((e) => e.topic === B && !after(e.id, removed.at)), 'B events before the removal');
    assert.ok(published.some((e) => e.topic === A && after(e.id, removed.at) && e.data !== 'end-a'), 'A events after the removal');
  } finally {
    stop = true;
    await pump;
  }
}));

// A sidecar that takes HS256 JWTs, and an app whose token endpoint mints one for the topics
// asked, valid for `lifetimeS` seconds; `minted` lists the topics of every token it gave.
async function jwtSidecar(scope, lifetimeS) {
  const keyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sse-browser-key-'));
  scope.defer(() => fs.rmSync(keyDir, { recursive: true, force: true }));
  const keyFile = path.join(keyDir, 'hs256.key');
  fs.writeFileSync(keyFile, JWT_SECRET, { mode: 0o600 });
  const minted = [];
  const holder = {};
  const app = await tabServer(scope, holder, {
    '/sse-token': (req, res) => {
      const topics = new URL(req.url, 'http://x').searchParams.getAll('topic');
      const now = Math.floor(Date.now() / 1000);
      minted.push(topics);
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-store' });
      res.end(h.hs256Jwt(JWT_SECRET, { sub: 'reader', topics, iat: now, exp: now + lifetimeS }));
    },
  });
  const sc = await scope.sidecar({
    access: { public_topics: [], jwt: { keys: [{ algorithm: 'HS256', file: keyFile }], leeway: '0s' } },
    cors: { allow_origins: [app.origin] },
  });
  holder.sidecar = sc;
  return { app, sc, minted };
}

test('a short-lived JWT is renewed through the callback before it expires: no sidecar.expired, nothing lost', h.withScope(async (t, scope) => {
  const LIFETIME_S = 6;
  const { app, sc, minted } = await jwtSidecar(scope, LIFETIME_S);
  const context = await scope.context();
  const published = [];
  const publish = async () => {
    const data = `tick ${published.length}`;
    const reply = await sc.publish({ topic: 'feed.live', data });
    published.push({ data, id: reply.id });
  };
  const first = await openTab(scope, context, tabUrl(app, 'feed.live', { token: '/sse-token' }));
  const net = await h.watchNetwork(first);
  // Before the first renewal, so that every renewal has a place to resume from.
  await publish();
  const second = await openTab(scope, context, tabUrl(app, 'feed.live', { token: '/sse-token' }));
  assert.deepEqual(minted[0], ['feed.live']);
  // The second tab shares the first one's stream (the first tab's callback serves both), from
  // the event after the one published before it opened.
  // Long enough for two renewals of the token the stream opened with, and then some.
  const deadline = Date.now() + 40000;
  const renewals = 2;
  while (minted.length < 1 + renewals) {
    assert.ok(Date.now() < deadline, `only ${minted.length} tokens minted in 40 s`);
    await publish();
    await h.sleep(25);
  }
  for (let i = 0; i < 20; i++) {
    await publish();
    await h.sleep(25);
  }
  for (const [page, expected] of [[first, published], [second, published.slice(1)]]) {
    assert.deepEqual(await waitGot(page, expected.length), expected);
    assert.deepEqual(await page.evaluate(() => window.rec.notices), [], 'no sidecar.expired (nor any notice)');
  }
  assert.equal(await sc.metric('sse_connections_closed_total{reason="expired"}'), 0, 'no stream outlived its token');
  assert.equal(minted.length, await first.evaluate(() => window.rec.tokens) + await second.evaluate(() => window.rec.tokens),
    'every token came through a page callback');
  // Each renewal reconnected from the last event with the new token.
  const streams = net.entries((url) => url.startsWith(`${sc.sseUrl}/events?`)).filter((r) => r.status > 0);
  const renewed = streams.filter((r) => new URL(r.url).searchParams.get('last_event_id'));
  assert.ok(renewed.length >= renewals, `${renewed.length} reconnects with last_event_id: ${streams.map((r) => r.url).join('\n')}`);
  for (const r of streams) {
    assert.equal(r.status, 200, r.url);
    assert.ok(new URL(r.url).searchParams.get('access_token'), 'the token went in access_token');
  }
}));

test('sidecar.missed calls onMissed with its data parsed', h.withScope(async (t, scope) => {
  const holder = {};
  const app = await tabServer(scope, holder);
  const sc = await scope.sidecar({
    history: { max_events: 3 },
    cors: { allow_origins: [app.origin] },
  });
  holder.sidecar = sc;
  const ids = [];
  for (let i = 0; i < 10; i++) ids.push((await sc.publish({ topic: 'public.gone', data: `old ${i}` })).id);
  // Resuming after the first event: history holds only the last three.
  const page = await openTab(scope, await scope.context(), tabUrl(app, 'public.gone', { last: ids[0] }));
  await page.waitForFunction(() => window.rec.missed.length > 0, null, { timeout: 15000 });
  const { missed, notices } = await page.evaluate(() => window.rec);
  assert.equal(missed.length, 1);
  assert.equal(missed[0].last_event_id, ids[0]);
  assert.equal(typeof missed[0].reason, 'string');
  assert.ok(missed[0].reason.length > 0);
  assert.equal(notices.length, 1);
  assert.equal(notices[0].type, 'sidecar.missed');
  assert.equal(notices[0].id, ids[9], 'it carries the newest id, where the stream goes on from');
  const next = await sc.publish({ topic: 'public.gone', data: 'new' });
  assert.deepEqual(await waitGot(page, 1), [{ data: 'new', id: next.id }], 'then live events, no old one');
  assert.equal(await page.evaluate(() => window.stream.lastEventId), next.id);
}));

test('a sidecar.expired that arrives anyway renews the token and resumes: nothing lost', h.withScope(async (t, scope) => {
  const { app, sc, minted } = await jwtSidecar(scope, 2);
  // The callback's expiresAt (an hour) hides the JWT's exp (2 s): no renewal is planned, so
  // the sidecar ends the stream with sidecar.expired.
  const page = await scope.page(await scope.context());
  const net = await h.watchNetwork(page);
  await page.goto(tabUrl(app, 'feed.late', { token: '/sse-token', expires: 'later' }));
  await page.waitForFunction(() => window.stream?.readyState === 1, null, { timeout: 15000, polling: 20 });
  const published = [];
  const deadline = Date.now() + 40000;
  while (minted.length < 3) {
    assert.ok(Date.now() < deadline, `only ${minted.length} tokens minted in 40 s`);
    const data = `tick ${published.length}`;
    const reply = await sc.publish({ topic: 'feed.late', data });
    published.push({ data, id: reply.id });
    await h.sleep(25);
  }
  const last = await sc.publish({ topic: 'feed.late', data: 'last' });
  published.push({ data: 'last', id: last.id });
  assert.deepEqual(await waitGot(page, published.length), published);
  const notices = await page.evaluate(() => window.rec.notices);
  assert.ok(notices.length >= 2 && notices.every((n) => n.type === 'sidecar.expired'), JSON.stringify(notices));
  assert.ok((await sc.metric('sse_connections_closed_total{reason="expired"}')) >= 2);
  // Each time with a new token at once: the browser's own reconnect with the expired one
  // (refused with 401) never happens.
  const streams = net.entries((url) => url.startsWith(`${sc.sseUrl}/events?`)).filter((r) => r.status > 0);
  assert.ok(streams.length >= 3, `${streams.length} stream requests`);
  assert.deepEqual(streams.map((r) => r.status), streams.map(() => 200), 'every stream request admitted');
}));
