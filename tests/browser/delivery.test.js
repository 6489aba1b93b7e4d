'use strict';
// Events published over the socket and over HTTP reach a cross-origin page's EventSource in
// order, with exactly the data the browser must see by the SSE parsing rules.

const test = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

// [what is published, what EventSource must report as `data`]. The SSE parser turns CRLF, CR
// and LF alike into one LF between data lines, drops the final LF of the data buffer, and
// strips exactly one space after "data:"; everything else must arrive byte for byte.
const PAYLOADS = [
  ['plain text', 'plain text'],
  ['', ''],
  ['line 1\nline 2\nline 3', 'line 1\nline 2\nline 3'],
  ['crlf 1\r\ncrlf 2\r\ncrlf 3', 'crlf 1\ncrlf 2\ncrlf 3'],
  ['cr 1\rcr 2\rcr 3', 'cr 1\ncr 2\ncr 3'],
  ['mixed 1\r\nmixed 2\rmixed 3\nmixed 4', 'mixed 1\nmixed 2\nmixed 3\nmixed 4'],
  ['\r\n\r\n', '\n\n'],
  ['\nblank first', '\nblank first'],
  ['blank between\n\nlines', 'blank between\n\nlines'],
  ['trailing newline\n', 'trailing newline\n'],
  ['  two leading spaces', '  two leading spaces'],
  ['data: id: event: retry: 1 : colon', 'data: id: event: retry: 1 : colon'],
  ['emoji 😀👍🏽 👨‍👩‍👧‍👦 🇯🇵', 'emoji 😀👍🏽 👨‍👩‍👧‍👦 🇯🇵'],
  ['CJK 日本語のテキスト 中文字符 한국어', 'CJK 日本語のテキスト 中文字符 한국어'],
  // Decomposed forms must not be normalised: e + U+0301, a + U+0308 + U+0323, U+0915 U+094D.
  ['combining e\u0301 a\u0308\u0323 \u0915\u094d\u0937', 'combining e\u0301 a\u0308\u0323 \u0915\u094d\u0937'],
  // U+2028/U+2029 and NEL are not SSE line endings; a BOM is only stripped at stream start.
  ['separators a\u2028b\u2029c\u0085d', 'separators a\u2028b\u2029c\u0085d'],
  ['\ufeffbom first', '\ufeffbom first'],
  ['rtl שלום עולם مرحبا', 'rtl שלום עולם مرحبا'],
];

async function openPage(scope) {
  const server = await scope.pageServer();
  const sc = await scope.sidecar({ cors: { allow_origins: [server.origin] } });
  const page = await scope.page();
  await page.goto(server.url());
  return { server, sc, page };
}

test('events arrive in order with exactly the published data', h.withScope(async (t, scope) => {
  const { sc, page } = await openPage(scope);
  await h.openStream(page, 's', sc.eventsUrl('public.delivery'));
  await h.waitOpen(page, 's');

  const expected = [];
  for (const [published, seen] of PAYLOADS) {
    const reply = await sc.publish({ topic: 'public.delivery', data: published });
    assert.equal(reply.subscribers, 1, 'the page stream is subscribed');
    expected.push({ type: 'message', data: seen, lastEventId: reply.id });
  }
  // A JSON value that is not a string is sent as its compact JSON text.
  const json = { text: 'ünïcödé ✓', list: [1, 2.5, true, null], nested: { empty: '' } };
  const reply = await sc.publish({ topic: 'public.delivery', data: json });
  expected.push({ type: 'message', data: JSON.stringify(json), lastEventId: reply.id });

  const events = await h.waitEvents(page, 's', expected.length);
  assert.deepEqual(events, expected);
  assert.deepEqual(JSON.parse(events.at(-1).data), json);
}));

test('HTTP publishing reaches the page too, in publish order', h.withScope(async (t, scope) => {
  const { sc, page } = await openPage(scope);
  await h.openStream(page, 's', sc.eventsUrl('public.http'), { events: ['update'] });
  await h.waitOpen(page, 's');

  const expected = [];
  const one = await sc.publishHttp({ topic: 'public.http', data: 'one\r\ntwo' });
  assert.equal(one.status, 200, one.text);
  expected.push({ type: 'message', data: 'one\ntwo', lastEventId: one.json.id });

  // An array publishes every message in order, each with its own id.
  const batch = await sc.publishHttp([
    { topic: 'public.http', data: 'batch 1 🎉' },
    { topic: 'public.http', event: 'update', data: 'batch 2 ✓' },
  ]);
  assert.equal(batch.status, 200, batch.text);
  expected.push({ type: 'message', data: 'batch 1 🎉', lastEventId: batch.json[0].id });
  expected.push({ type: 'update', data: 'batch 2 ✓', lastEventId: batch.json[1].id });

  // POST /publish/{topic}: the raw body is the data, line endings and all.
  const raw = await sc.admin('POST', '/publish/public.http?event=update', {
    headers: { Authorization: `Bearer ${h.PUBLISH_TOKEN}`, 'Content-Type': 'text/plain; charset=utf-8' },
    body: 'raw 1\rraw 2\r\nraw 3 日本',
  });
  assert.equal(raw.status, 200, raw.text);
  expected.push({ type: 'update', data: 'raw 1\nraw 2\nraw 3 日本', lastEventId: raw.json.id });

  // Socket and HTTP publishes interleave in one order.
  const last = await sc.publish({ topic: 'public.http', data: 'via socket' });
  expected.push({ type: 'message', data: 'via socket', lastEventId: last.id });

  assert.deepEqual(await h.waitEvents(page, 's', expected.length), expected);
}));

test('named events reach addEventListener(name) and only it', h.withScope(async (t, scope) => {
  const { sc, page } = await openPage(scope);
  // One stream listening for 'price' and 'alert' (and, as always, 'message'); a second that
  // listens for 'message' only must not see named events at all.
  await h.openStream(page, 'named', sc.eventsUrl('public.named'), { events: ['price', 'alert'] });
  await h.openStream(page, 'plain', sc.eventsUrl('public.named'));
  await h.waitOpen(page, 'named');
  await h.waitOpen(page, 'plain');

  const sequence = [
    { event: 'price', data: '{"sym":"ACME","px":12.5}' },
    { data: 'unnamed' },
    { event: 'alert', data: 'multi\nline ⚠️' },
    { event: 'price', data: '' },
    { event: 'ignored-by-both', data: 'nobody listens' },
    { data: 'last' },
  ];
  const ids = [];
  for (const message of sequence) {
    const reply = await sc.publish({ topic: 'public.named', ...message });
    assert.equal(reply.subscribers, 2);
    ids.push(reply.id);
  }

  const listened = new Set(['message', 'price', 'alert']);
  const expectNamed = sequence
    .map((m, i) => ({ type: m.event || 'message', data: m.data, lastEventId: ids[i] }))
    .filter((e) => listened.has(e.type));
  const expectPlain = expectNamed.filter((e) => e.type === 'message');
  assert.deepEqual(await h.waitEvents(page, 'named', expectNamed.length), expectNamed);
  assert.deepEqual(await h.waitEvents(page, 'plain', expectPlain.length), expectPlain);

  // The unheard event still moved lastEventId along: a marker after it proves nothing else
  // arrived late on either stream.
  const marker = await sc.publish({ topic: 'public.named', data: 'marker' });
  const named = await h.waitEvents(page, 'named', expectNamed.length + 1);
  const plain = await h.waitEvents(page, 'plain', expectPlain.length + 1);
  assert.equal(named.length, expectNamed.length + 1);
  assert.equal(plain.length, expectPlain.length + 1);
  assert.deepEqual(named.at(-1), { type: 'message', data: 'marker', lastEventId: marker.id });
  assert.deepEqual(plain.at(-1), { type: 'message', data: 'marker', lastEventId: marker.id });
}));
