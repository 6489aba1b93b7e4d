'use strict';
// The browser's own reconnect: the sidecar ends every stream after stream.max_duration, the
// EventSource reconnects with Last-Event-ID, and the sidecar replays what it missed, so a
// page sees every event exactly once, in order, while publishing never stops.

const test = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const TOPIC = 'public.resume';
const RECONNECTS = 3;

test('streams dropped by max_duration resume with Last-Event-ID: nothing lost or repeated', h.withScope(async (t, scope) => {
  const pages = await scope.pageServer();
  const config = {
    // The stream ends after about a second; the browser comes back 100 ms later.
    stream: { max_duration: '1s', retry: '100ms' },
    cors: { allow_origins: [pages.origin] },
  };
  const sc = await scope.sidecar(config);
  const page = await scope.page();
  await page.goto(pages.url());
  const net = await h.watchNetwork(page);
  const url = sc.eventsUrl(TOPIC);
  // sidecar.missed would mean the resume failed: record it so a comparison shows it.
  await h.openStream(page, 's', url, { events: ['sidecar.missed'] });
  await h.waitOpen(page, 's');

  const published = [];
  const publish = async () => {
    const data = `event ${published.length} ✓`;
    const reply = await sc.publish({ topic: TOPIC, data });
    published.push({ type: 'message', data, lastEventId: reply.id });
  };

  // Publish without pause until the browser has reconnected RECONNECTS times, so events are
  // published while streams end, while the browser waits to reconnect, and while it replays.
  const deadline = Date.now() + 30000;
  while ((await h.streamState(page, 's')).opens <= RECONNECTS) {
    assert.ok(Date.now() < deadline, `fewer than ${RECONNECTS} reconnects in 30 s: ${JSON.stringify(net.entries(h.exactly(url)))}`);
    for (let i = 0; i < 5; i++) {
      await publish();
      await h.sleep(4);
    }
  }
  for (let i = 0; i < 20; i++) await publish();

  const events = await h.waitEvents(page, 's', published.length, { timeoutMs: 15000 });
  assert.equal(events.length, published.length, 'no event twice');
  assert.deepEqual(events, published);

  // Duplicates replayed late would land after a final marker.
  await publish();
  const all = await h.waitEvents(page, 's', published.length);
  assert.deepEqual(all, published);

  // Every stream but the current one ended cleanly; every reconnect carried the id of the
  // last event received before it, never going back (streams keep ending after publishing
  // stops, so later ones repeat the last id). The newest request may still be under way:
  // only answered ones are examined.
  const requests = net.entries(h.exactly(url)).filter((r) => r.status > 0);
  assert.ok(requests.length > RECONNECTS, `${requests.length} stream requests`);
  assert.equal(requests[0].requestHeaders['last-event-id'], undefined);
  const ids = published.map((e) => e.lastEventId);
  let previous = -1;
  for (const request of requests.slice(1)) {
    const index = ids.indexOf(request.requestHeaders['last-event-id']);
    assert.ok(index >= 0 && index >= previous, `Last-Event-ID ${request.requestHeaders['last-event-id']} after #${previous}`);
    previous = index;
  }
  for (const request of requests) assert.equal(request.status, 200);
  for (const request of requests.slice(0, -1)) {
    assert.ok(request.finished && !request.failure, `stream ended cleanly: ${JSON.stringify(request)}`);
  }
  const state = await h.streamState(page, 's');
  assert.ok(state.errors >= RECONNECTS, 'EventSource saw each end');
  assert.notEqual(state.readyState, 2, 'and never gave up');
  assert.ok((await sc.metric('sse_connections_closed_total{reason="max_duration"}')) >= RECONNECTS);
}));
