'use strict';
// The admin page (GET /admin on the admin listener), used as an operator would: it asks for the
// publisher token, then shows the sidecar's live figures (fed by GET /admin/events, read with
// fetch() so that the token goes in a header), the topics and the streams; its form publishes
// a test event that a real stream in another page receives, and its button ends a subject's
// streams. It takes the README's screenshot (admin.png, the viewport's size) into
// $DEMO_SCREENSHOTS_DIR when set (scripts/screenshots sets it), else into a temporary
// directory removed when the test ends: a test run never writes into the tree.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./harness');

const VIEWPORT = { width: 1200, height: 750 };
const ALICE = 'alice-admin-page-token-0123456789';
const BOB = 'bob-admin-page-token-0123456789';

const SCREENSHOTS = process.env.DEMO_SCREENSHOTS_DIR
  ? path.resolve(process.env.DEMO_SCREENSHOTS_DIR)
  : fs.mkdtempSync(path.join(os.tmpdir(), 'sse-browser-admin-'));
if (!process.env.DEMO_SCREENSHOTS_DIR && !process.env.KEEP_TMP) {
  test.after(() => fs.rmSync(SCREENSHOTS, { recursive: true, force: true }));
}

const text = (page, selector) => page.locator(selector).textContent();

async function waitText(page, selector, predicate, message) {
  return h.waitFor(async () => {
    const value = await text(page, selector);
    return predicate(value) ? value : null;
  }, { message: `${message} (${selector})` });
}

test('the admin page shows live figures, publishes a test event and ends a subject\'s streams', h.withScope(async (t, scope) => {
  const pages = await scope.pageServer({});
  const sc = await scope.sidecar({
    access: {
      public_topics: ['public.*'],
      tokens: [
        { token: ALICE, subject: 'alice', topics: ['chat.*'] },
        { token: BOB, subject: 'bob', topics: ['chat.*'] },
      ],
    },
    cors: { allow_origins: [pages.origin] },
  });

  // Real streams in another page (another origin), as the app's users would have them.
  const users = await scope.page();
  await users.goto(pages.url());
  await h.openStream(users, 'alice', sc.eventsUrl('chat.room', { access_token: ALICE }), { events: ['sidecar.revoked'] });
  await h.openStream(users, 'bob', sc.eventsUrl(['chat.room', 'chat.other'], { access_token: BOB }), { events: ['sidecar.revoked'] });
  await h.openStream(users, 'ticker', sc.eventsUrl('public.ticker'));
  for (const name of ['alice', 'bob', 'ticker']) await h.waitOpen(users, name);

  const admin = await scope.page(await scope.context({ viewport: VIEWPORT }));
  await admin.goto(`${sc.adminUrl}/admin`);
  assert.equal(await admin.title(), 'sse-sidecar admin');

  // A wrong token is refused, with the sidecar's reason, and not kept.
  await admin.fill('#token', 'not-a-publisher-token-0123456789');
  await admin.click('#login-form button');
  await waitText(admin, '#login-error', (v) => v.includes('invalid publisher token'), 'the refusal');
  assert.equal(await admin.evaluate(() => sessionStorage.length), 0);

  await admin.fill('#token', h.PUBLISH_TOKEN);
  await admin.click('#login-form button');
  await admin.waitForSelector('#status[data-state="live"]');
  assert.equal(await admin.evaluate(() => sessionStorage.getItem('sse-sidecar.admin-token')), h.PUBLISH_TOKEN);
  await waitText(admin, '#stat-connections', (v) => v === '3', 'three open connections');

  // Live numbers follow what is published (over the socket, as the app would).
  const before = Number(await text(admin, '#stat-published-total'));
  for (let i = 0; i < 20; i++) await sc.publish({ topic: 'public.ticker', data: `tick ${i}` });
  await h.waitEvents(users, 'ticker', 20);
  await waitText(admin, '#stat-published-total', (v) => Number(v) === before + 20, 'twenty more published');
  await waitText(admin, '#stat-published', (v) => Number(v) > 0, 'a publish rate');

  // Topics and streams, refreshed by the page on its own.
  await waitText(admin, '#topics-body tr[data-topic="public.ticker"] td.events', (v) => v === '20', 'its 20 events');
  await waitText(admin, '#topics-body tr[data-topic="chat.room"] td.subscribers', (v) => v === '2', 'alice and bob');
  await admin.waitForSelector('#streams-body tr[data-subject="alice"]');
  await admin.waitForSelector('#streams-body tr[data-subject="bob"]');
  assert.equal(await admin.locator('#streams-body tr').count(), 3);
  await admin.fill('#streams-subject', 'bob');
  await h.waitFor(async () => (await admin.locator('#streams-body tr').count()) === 1, { message: 'the subject filter' });
  await admin.fill('#streams-subject', '');

  // Some seconds of uneven traffic for the sparklines, then the README's screenshot.
  const ROUNDS = 10;
  for (let s = 0; s < ROUNDS; s++) {
    const n = Math.round(15 + 12 * Math.sin(s / 1.5));
    for (let i = 0; i < n; i++) await sc.publish({ topic: 'public.ticker', data: `t${s}.${i}` });
    await sc.publish({ topic: `public.prices.${['eu', 'us', 'asia'][s % 3]}`, data: `p${s}` });
    if (s % 3 === 0) await sc.publish({ topic: 'chat.room', event: 'message', data: `round ${s}` });
    await h.sleep(1000);
  }
  await admin.waitForSelector('#topics-body tr[data-topic="public.prices.us"]');
  await admin.locator('#streams-subject').blur();
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const shot = path.join(SCREENSHOTS, 'admin.png');
  await admin.screenshot({ path: shot });
  const png = fs.readFileSync(shot);
  assert.equal(png.toString('latin1', 1, 4), 'PNG');
  assert.deepEqual({ width: png.readUInt32BE(16), height: png.readUInt32BE(20) }, VIEWPORT);

  // The test event form: a real stream receives the event.
  const seen = (await h.streamState(users, 'ticker')).events.length;
  await admin.fill('#publish-topic', 'public.ticker');
  await admin.fill('#publish-event', '');
  await admin.fill('#publish-data', 'hello from the admin page');
  await admin.click('#publish-form button');
  await waitText(admin, '#publish-result', (v) => v.startsWith('200 '), 'the publish reply');
  const events = await h.waitEvents(users, 'ticker', seen + 1);
  assert.equal(events[seen].data, 'hello from the admin page');
  assert.match(await text(admin, '#publish-result'), /"ok":true/);

  // The disconnect button on alice's row: her stream ends (sidecar.revoked, then the end of
  // the response), bob's goes on.
  const revoked = 'sse_connections_closed_total{reason="revoked"}';
  assert.equal(await sc.metric(revoked), 0);
  await admin.click('#streams-body tr[data-subject="alice"] button.disconnect');
  await waitText(admin, '#disconnect-result', (v) => v.startsWith('202 '), 'the disconnect reply');
  const alice = await h.waitEvents(users, 'alice', 5);  // four rounds' messages, then that
  assert.equal(alice.at(-1).type, 'sidecar.revoked');
  await h.waitFor(async () => (await h.streamState(users, 'alice')).errors >= 1, { message: 'alice\'s stream to end' });
  await h.waitFor(async () => (await sc.metric(revoked)) === 1, { message: 'one stream revoked' });
  const bob = await h.streamState(users, 'bob');
  assert.equal(bob.errors, 0);
  assert.ok(!bob.events.some((e) => e.type === 'sidecar.revoked'));

  // Forgetting the token ends the live stream and returns to the form.
  await admin.click('#logout');
  await admin.waitForSelector('#login-form', { state: 'visible' });
  assert.equal(await admin.evaluate(() => sessionStorage.length), 0);
}));
