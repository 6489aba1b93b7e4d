'use strict';
// Why the sidecar serves HTTP/2 itself: a browser opens at most six HTTP/1.1 connections to a
// host, so a seventh EventSource (a seventh tab of an app) waits until one of the six closes.
// Over HTTP/2 (which browsers speak only over TLS) every stream shares one connection.
//
// The certificate is made by the test with the openssl command: a test CA, trusted by this
// test's own Chromium through an NSS database in a temporary HOME (how Chromium on Linux
// takes a locally added root), and a leaf for localhost and 127.0.0.1 that the sidecar serves
// on listen.sse_tls.

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./harness');

const STREAMS = 12;
// Chromium's limit of HTTP/1.1 connections per host (net::ClientSocketPoolManager).
const H1_LIMIT = 6;

function openssl(args, cwd) {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A test CA and a leaf it signed for localhost and 127.0.0.1, in `dir`. */
function makeCertificates(dir) {
  fs.writeFileSync(path.join(dir, 'ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
  fs.writeFileSync(
    path.join(dir, 'leaf.ext'),
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' +
      'subjectAltName=DNS:localhost,IP:127.0.0.1\n',
  );
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=sse-sidecar browser test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  openssl(['req', ...ec, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=localhost'], dir);
  openssl(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', '4242', '-days', '2', '-extfile', 'leaf.ext', '-out', 'leaf.pem'], dir);
  fs.chmodSync(path.join(dir, 'leaf.key'), 0o600);
  return { ca: path.join(dir, 'ca.pem'), cert: path.join(dir, 'leaf.pem'), key: path.join(dir, 'leaf.key') };
}

/** A HOME whose NSS database trusts `ca` for servers. */
function trustingHome(dir, ca) {
  const home = path.join(dir, 'home');
  const db = path.join(home, '.pki', 'nssdb');
  fs.mkdirSync(db, { recursive: true });
  execFileSync('certutil', ['-d', `sql:${db}`, '-N', '--empty-password'], { stdio: 'pipe' });
  execFileSync('certutil', ['-d', `sql:${db}`, '-A', '-t', 'C,,', '-n', 'sse-sidecar test CA', '-i', ca], { stdio: 'pipe' });
  return home;
}

/** Everything the tests below share: certificates, a browser that trusts them, a page. */
async function setup(scope, config = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sse-browser-h2-'));
  scope.defer(() => fs.rmSync(dir, { recursive: true, force: true }));
  const certs = makeCertificates(dir);
  const { chromium } = require('playwright-core');
  const browser = await chromium.launch({
    executablePath: h.CHROMIUM_BIN,
    headless: true,
    args: h.BROWSER_ARGS,
    env: { ...process.env, HOME: trustingHome(dir, certs.ca) },
  });
  scope.defer(() => browser.close());
  const pages = await scope.pageServer();
  const tlsPort = await h.freePort();
  const sc = await scope.sidecar(h.deepMerge({
    listen: { sse_tls: `127.0.0.1:${tlsPort}` },
    tls: { certificate_file: certs.cert, key_file: certs.key },
    cors: { allow_origins: [pages.origin] },
    limits: { max_connections_per_ip: 0 },
  }, config));
  const context = await browser.newContext();
  scope.defer(() => context.close());
  const page = await scope.page(context);
  await page.goto(pages.url());
  const https = (url) => url.replace(sc.sseUrl, `https://localhost:${tlsPort}`);
  return { sc, page, https };
}

/** The protocol Chromium used for each response (CDP Network.responseReceived), by URL. */
async function watchProtocols(page) {
  const cdp = await page.context().newCDPSession(page);
  const byUrl = new Map();
  cdp.on('Network.responseReceived', (e) => byUrl.set(e.response.url, e.response.protocol));
  await cdp.send('Network.enable');
  return byUrl;
}

async function openedCount(page, names) {
  let n = 0;
  for (const name of names) if (((await h.streamState(page, name))?.opens ?? 0) > 0) n++;
  return n;
}

const topic = (i) => `public.tabs.${i}`;
const names = Array.from({ length: STREAMS }, (_, i) => `tab${i}`);

test('twelve EventSources over https share one HTTP/2 connection and all receive', h.withScope(async (t, scope) => {
  const { sc, page, https } = await setup(scope);
  const protocols = await watchProtocols(page);
  for (let i = 0; i < STREAMS; i++) await h.openStream(page, names[i], https(sc.eventsUrl(topic(i))));
  for (const name of names) await h.waitOpen(page, name);

  for (let i = 0; i < STREAMS; i++) await sc.publish({ topic: topic(i), data: `to tab ${i}` });
  for (let i = 0; i < STREAMS; i++) {
    const events = await h.waitEvents(page, names[i], 1);
    assert.deepEqual(events.map((e) => e.data), [`to tab ${i}`]);
  }
  for (let i = 0; i < STREAMS; i++) assert.equal(protocols.get(https(sc.eventsUrl(topic(i)))), 'h2');

  // One TLS connection carries all twelve, as the sidecar sees it too.
  const metrics = await sc.metrics();
  assert.equal(metrics['sse_connections_open_by_transport{transport="tls"}'], 1);
  const streams = (await sc.admin('GET', '/streams', { headers: { Authorization: `Bearer ${h.PUBLISH_TOKEN}` } })).json;
  assert.equal(streams.streams.filter((s) => s.protocol === 'h2').length, STREAMS, JSON.stringify(streams));
}));

test('the same page over plain HTTP/1.1 leaves the seventh waiting until one closes', h.withScope(async (t, scope) => {
  const { sc, page } = await setup(scope);
  for (let i = 0; i < STREAMS; i++) await h.openStream(page, names[i], sc.eventsUrl(topic(i)));
  for (let i = 0; i < H1_LIMIT; i++) await h.waitOpen(page, names[i]);
  await h.waitFor(async () => (await sc.metric('sse_connections_open')) === H1_LIMIT, { message: 'six streams open' });
  // A second for the others to get through, were the browser to let them: it does not.
  await h.sleep(1000);
  assert.equal(await openedCount(page, names), H1_LIMIT, 'only six of twelve streams opened');
  assert.equal(await sc.metric('sse_connections_open'), H1_LIMIT);

  for (let i = 0; i < STREAMS; i++) await sc.publish({ topic: topic(i), data: `to tab ${i}` });
  assert.deepEqual((await h.waitEvents(page, names[0], 1)).map((e) => e.data), ['to tab 0']);
  assert.equal((await h.streamState(page, names[H1_LIMIT])).events.length, 0, 'the seventh received nothing');

  // Closing one lets the seventh connect; it then receives what is published from then on.
  await page.evaluate((n) => window.sse.close(n), names[0]);
  await h.waitOpen(page, names[H1_LIMIT]);
  await sc.publish({ topic: topic(H1_LIMIT), data: 'at last' });
  const seventh = await h.waitEvents(page, names[H1_LIMIT], 1);
  assert.equal(seventh.at(-1).data, 'at last');
}));

test('a stream over HTTP/2 resumes with Last-Event-ID and loses or repeats nothing', h.withScope(async (t, scope) => {
  // Streams end after about a second; the browser comes back 100 ms later with Last-Event-ID.
  const { sc, page, https } = await setup(scope, { stream: { max_duration: '1s', retry: '100ms' } });
  const net = await h.watchNetwork(page);
  const protocols = await watchProtocols(page);
  const url = https(sc.eventsUrl('public.resume'));
  await h.openStream(page, 's', url, { events: ['sidecar.missed'] });
  await h.waitOpen(page, 's');

  const published = [];
  const deadline = Date.now() + 30000;
  while ((await h.streamState(page, 's')).opens <= 3) {
    assert.ok(Date.now() < deadline, 'fewer than 3 reconnects in 30 s');
    const data = `event ${published.length}`;
    const reply = await sc.publish({ topic: 'public.resume', data });
    published.push({ type: 'message', data, lastEventId: reply.id });
    await h.sleep(20);
  }
  const events = await h.waitEvents(page, 's', published.length, { timeoutMs: 15000 });
  assert.deepEqual(events, published);
  assert.equal(protocols.get(url), 'h2');

  const requests = net.entries(h.exactly(url)).filter((r) => r.status > 0);
  assert.ok(requests.length > 3, `${requests.length} stream requests`);
  const resumed = requests.slice(1).map((r) => r.requestHeaders['last-event-id']);
  for (const id of resumed) assert.ok(published.some((e) => e.lastEventId === id), `Last-Event-ID ${id} was sent`);
  assert.equal(await sc.metric('sse_connections_open_by_transport{transport="tls"}'), 1, 'every reconnect on the one connection');
}));
