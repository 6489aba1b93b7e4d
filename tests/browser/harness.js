'use strict';
/**
 * Harness for the browser tests: the real sse-sidecar binary, pages served from another origin,
 * and Debian's headless Chromium driven by playwright-core.
 *
 * Environment:
 *   SIDECAR_BIN   the daemon to test (default: build/sse-sidecar at the repository root)
 *   CHROMIUM_BIN  the browser (default: /usr/bin/chromium)
 *   KEEP_TMP=1    keep each sidecar's temp dir (config, log) instead of removing it
 *
 * Processes and servers
 *   freePort() -> Promise<number>               a free TCP port on 127.0.0.1
 *   startSidecar(config, {readyTimeoutMs}) -> Promise<Sidecar>
 *       config is either an object, deep-merged onto defaultConfig(ctx) (free loopback ports,
 *       a private publish socket in a temp dir, PUBLISH_TOKEN, public.* readable, every origin
 *       allowed; arrays replace arrays), or YAML text in which {{SSE_ADDR}}, {{ADMIN_ADDR}},
 *       {{SOCKET}}, {{DIR}} and {{PUBLISH_TOKEN}} are substituted.
 *   Sidecar
 *       .sseUrl, .adminUrl, .ssePort, .adminPort, .socketPath, .dir, .configPath, .configText
 *       .eventsUrl(topics, params)   stream URL: /events?topic=A&topic=B&key=value...
 *       .publish(msg)                one NDJSON line on the Unix socket -> the reply object;
 *                                    rejects when the reply is not {"ok":true}
 *       .publishRaw(msg)             the same, resolving with any reply
 *       .publishHttp(body, {token, path}) POST /publish on the admin port -> {status, json, text}
 *       .admin(method, path, {headers, body}) any admin request -> {status, headers, text, json}
 *       .metrics() -> {'name{labels}': number}     .metric(key) -> number (0 when absent)
 *       .presence(topic, {token}) -> the JSON of GET /presence?topic= (sent with PUBLISH_TOKEN)
 *       .log() -> the daemon's stderr/stdout so far
 *       .stop() -> list of problems: sanitizer reports in the log, an exit the harness did not
 *                  ask for, a non-zero exit status, a drain that needed SIGKILL
 *   checkConfig(yamlText) -> Promise<{ok, output}>   `sse-sidecar --check-config` on the text
 *   acceptsConfig(object) -> Promise<{ok, output}>   the same for an object merged onto defaults
 *   startPageServer(routes, {host}) -> Promise<PageServer>
 *       routes: {'/path': html string | {status, headers, body} | async (req, res, body) => {}}
 *       matched on the path without the query; /probe.html (probePage()) is always served.
 *   PageServer: .origin, .port, .url(path), .requests [{method, path, url, headers, body}], .stop()
 *   launchBrowser() -> Promise<playwright Browser>   headless Chromium, flags for running as root
 *   sharedBrowser() -> the process's one browser (launched on first use; scopes hold it and
 *   close it once unused for a moment); closeSharedBrowser() closes it now
 *
 * Pages
 *   probePage(title, extraScript) -> HTML whose window.sse records EventSource streams:
 *       sse.open(name, url, {withCredentials, events: [names]})  (default 'message' always)
 *       sse.close(name); sse.get(name) -> {events: [{type, data, lastEventId}], opens, errors,
 *       readyState}
 *   openStream(page, name, url, opts)    calls sse.open in the page
 *   waitOpen(page, name, {opens})        until the stream has opened (`opens` times)
 *   waitEvents(page, name, count)        until `count` events arrived; returns them all
 *   waitClosed(page, name)               until EventSource gave up (readyState CLOSED)
 *   streamState(page, name)              sse.get(name) now
 *   watchNetwork(page) -> {entries(match), waitFor(match, pred)}   HTTP exchanges as
 *       the network stack saw them: {url, requestHeaders, status, responseHeaders, finished
 *       (the response ended cleanly), failure (why it did not)},
 *       including responses the browser blocked (CORS) and headers it added (Cookie,
 *       Last-Event-ID); match is a URL prefix, a RegExp or a function of the URL
 *   exactly(url) -> a match for that one URL (a stream URL is often a prefix of another)
 *
 * Test scaffolding
 *   sleep(ms); withTimeout(promise, ms) -> its value, or null after ms
 *   withScope(async (t, scope) => {...}) -> a node:test test function. The scope creates what
 *   a test needs and always disposes of it, in reverse order, when the test ends, even on
 *   failure: scope.sidecar(config), scope.pageServer(routes), scope.context(options) (a
 *   fresh browser context), scope.page(context?) (a page in that context or in its own; its
 *   console is recorded), scope.defer(fn) (fn may return a list of problems, which fail the
 *   test). A failing test's error gets the sidecar logs and page consoles appended; a sidecar
 *   problem found at stop (see Sidecar.stop) fails the test.
 *   waitFor(fn, {timeoutMs, intervalMs, message}) polls fn until it returns a truthy value.
 *   hs256Jwt(secret, claims) -> a signed JWT.
 *   daemonLacks(t, object, feature) -> true (and the test is skipped) when --check-config
 *   refuses the keys of a feature the daemon does not have yet.
 */

const assert = require('node:assert/strict');
const { spawn, execFile } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const fsp = require('node:fs/promises');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const SIDECAR_BIN = process.env.SIDECAR_BIN || path.join(REPO_ROOT, 'build', 'sse-sidecar');
const CHROMIUM_BIN = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const PUBLISH_TOKEN = 'browser-test-publisher-token-0123456789';
const DEFAULT_TIMEOUT_MS = 10000;

// Log lines the sanitizer build writes when it finds a memory error, a leak or undefined
// behaviour; any of them fails the test that ran the sidecar.
const SANITIZER_MARKERS = ['ERROR: AddressSanitizer', 'LeakSanitizer', 'runtime error:'];

const BROWSER_ARGS = [
  '--no-sandbox', // the tests run as root
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// Children still running when the process exits (a crash, a runner timeout) are killed, so a
// failed run never leaves a daemon holding ports.
const liveChildren = new Set();
process.on('exit', () => {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The promise's value, or null after `ms`; the timer never outlives the wait (a pending
 * timer would keep a finished test process alive). */
async function withTimeout(promise, ms) {
  let timer;
  const expired = new Promise((resolve) => {
    timer = setTimeout(() => resolve(null), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

async function waitFor(fn, { timeoutMs = DEFAULT_TIMEOUT_MS, intervalMs = 25, message = 'condition' } = {}) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > end) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${message} (last: ${JSON.stringify(last)})`);
    }
    await sleep(intervalMs);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Configuration

function isPlainObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function deepMerge(base, overrides) {
  const out = { ...base };
  for (const [key, value] of Object.entries(overrides || {})) {
    out[key] = isPlainObject(value) && isPlainObject(out[key]) ? deepMerge(out[key], value) : value;
  }
  return out;
}

// Nested objects become block mappings; everything else is JSON, which is valid YAML flow
// syntax, so strings are always quoted and lists of mappings need no special casing.
function toYaml(value, indent = 0) {
  const pad = '  '.repeat(indent);
  const lines = [];
  for (const [key, item] of Object.entries(value)) {
    if (isPlainObject(item) && Object.keys(item).length > 0) {
      lines.push(`${pad}${key}:`, toYaml(item, indent + 1));
    } else {
      lines.push(`${pad}${key}: ${JSON.stringify(item)}`);
    }
  }
  return lines.join('\n');
}

function defaultConfig({ ssePort, adminPort, socketPath }) {
  return {
    listen: { sse: `127.0.0.1:${ssePort}`, admin: `127.0.0.1:${adminPort}`, backlog: 128 },
    workers: 2,
    publish: { socket: socketPath, socket_mode: '0600', tokens: [PUBLISH_TOKEN] },
    access: { public_topics: ['public.*'] },
    cors: { allow_origins: ['*'] },
    log: { level: 'info', format: 'text' },
    drain_timeout: '2s',
  };
}

function renderConfig(config, ctx) {
  if (typeof config === 'string') {
    return config
      .replaceAll('{{SSE_ADDR}}', `127.0.0.1:${ctx.ssePort}`)
      .replaceAll('{{ADMIN_ADDR}}', `127.0.0.1:${ctx.adminPort}`)
      .replaceAll('{{SOCKET}}', ctx.socketPath)
      .replaceAll('{{DIR}}', ctx.dir)
      .replaceAll('{{PUBLISH_TOKEN}}', PUBLISH_TOKEN);
  }
  return `${toYaml(deepMerge(defaultConfig(ctx), config || {}))}\n`;
}

function requireBinary() {
  if (!fs.existsSync(SIDECAR_BIN)) {
    throw new Error(`sse-sidecar binary not found at ${SIDECAR_BIN} (build it, or set SIDECAR_BIN)`);
  }
}

function checkConfig(yamlText) {
  requireBinary();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sse-browser-check-'));
  const file = path.join(dir, 'config.yaml');
  fs.writeFileSync(file, yamlText);
  return new Promise((resolve) => {
    execFile(SIDECAR_BIN, ['--check-config', file], (error, stdout, stderr) => {
      fs.rmSync(dir, { recursive: true, force: true });
      resolve({ ok: !error, output: `${stdout}${stderr}` });
    });
  });
}

function acceptsConfig(config) {
  const ctx = { ssePort: 1, adminPort: 2, socketPath: '/tmp/sse-browser-check.sock', dir: os.tmpdir() };
  return checkConfig(renderConfig(config, ctx));
}

/**
 * For tests of daemon features still being written: skips the test (saying why) when the
 * daemon refuses the configuration that turns the feature on.
 */
async function daemonLacks(t, config, feature) {
  const { ok, output } = await acceptsConfig(config);
  if (ok) return false;
  t.skip(`the daemon does not support ${feature} yet: ${output.trim().split('\n')[0]}`);
  return true;
}

// ---------------------------------------------------------------------------------------------
// HTTP client

function httpRequest(url, { method = 'GET', headers = {}, body, timeoutMs = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const req = http.request(url, { method, headers, timeout: timeoutMs, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    if (payload) req.setHeader('Content-Length', payload.length);
    req.end(payload);
  });
}

function parseMetrics(text) {
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    out[line.slice(0, cut)] = Number(line.slice(cut + 1));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The daemon

/** One NDJSON connection to the publish socket; replies come back in order, one per line. */
class SocketPublisher {
  constructor(socketPath) {
    this.socketPath = socketPath;
    this.pending = [];
    this.buffer = '';
    this.socket = null;
  }

  connect() {
    if (this.socket) return this.ready;
    this.socket = net.createConnection(this.socketPath);
    this.socket.setEncoding('utf8');
    this.ready = new Promise((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('error', reject);
    });
    this.socket.on('data', (chunk) => this.onData(chunk));
    this.socket.on('error', (err) => this.failAll(err));
    this.socket.on('close', () => this.failAll(new Error('the publish socket closed')));
    return this.ready;
  }

  onData(chunk) {
    this.buffer += chunk;
    let nl;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      const waiter = this.pending.shift();
      if (!waiter) continue;
      try {
        waiter.resolve(JSON.parse(line));
      } catch (err) {
        waiter.reject(new Error(`publish reply is not JSON: ${line}`));
      }
    }
  }

  failAll(err) {
    for (const waiter of this.pending.splice(0)) waiter.reject(err);
  }

  async send(message) {
    await this.connect();
    const line = `${typeof message === 'string' ? message : JSON.stringify(message)}\n`;
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.socket.write(line);
    });
  }

  close() {
    if (this.socket) this.socket.destroy();
    this.socket = null;
  }
}

class Sidecar {
  constructor({ dir, ssePort, adminPort, socketPath, configPath, configText, logPath }) {
    Object.assign(this, { dir, ssePort, adminPort, socketPath, configPath, configText, logPath });
    this.sseUrl = `http://127.0.0.1:${ssePort}`;
    this.adminUrl = `http://127.0.0.1:${adminPort}`;
    this.publisher = new SocketPublisher(socketPath);
    this.exited = null; // {code, signal} once the process is gone
    this.stopping = false;
    this.stopped = false;
  }

  spawn() {
    const logFd = fs.openSync(this.logPath, 'a');
    this.proc = spawn(SIDECAR_BIN, ['--config', this.configPath], { stdio: ['ignore', logFd, logFd] });
    fs.closeSync(logFd);
    liveChildren.add(this.proc);
    this.exitPromise = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        liveChildren.delete(this.proc);
        this.exited = { code, signal };
        resolve(this.exited);
      });
    });
  }

  async waitReady(timeoutMs) {
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (this.exited) throw new Error(`sidecar exited with ${JSON.stringify(this.exited)}`);
      try {
        const res = await httpRequest(`${this.adminUrl}/readyz`, { timeoutMs: 500 });
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > end) throw new Error(`/readyz not 200 within ${timeoutMs} ms`);
      await sleep(20);
    }
  }

  eventsUrl(topics, params = {}) {
    const query = new URLSearchParams();
    for (const topic of [].concat(topics)) query.append('topic', topic);
    for (const [key, value] of Object.entries(params)) query.append(key, value);
    return `${this.sseUrl}/events?${query}`;
  }

  publishRaw(message) {
    return this.publisher.send(message);
  }

  async publish(message) {
    const reply = await this.publishRaw(message);
    if (!reply.ok) throw new Error(`publish ${JSON.stringify(message)} refused: ${JSON.stringify(reply)}`);
    return reply;
  }

  publishHttp(body, { token = PUBLISH_TOKEN, path: target = '/publish' } = {}) {
    const headers = { 'Content-Type': 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    return this.admin('POST', target, { headers, body });
  }

  admin(method, target, options = {}) {
    return httpRequest(`${this.adminUrl}${target}`, { method, ...options });
  }

  async metrics() {
    const res = await this.admin('GET', '/metrics');
    assert.equal(res.status, 200, `/metrics answered ${res.status}`);
    return parseMetrics(res.text);
  }

  async metric(key) {
    return (await this.metrics())[key] ?? 0;
  }

  /** GET /presence; it takes a publisher credential whenever publisher tokens are set. */
  async presence(topic, { token = PUBLISH_TOKEN } = {}) {
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    const res = await this.admin('GET', `/presence?topic=${encodeURIComponent(topic)}`, { headers });
    assert.equal(res.status, 200, `/presence answered ${res.status}: ${res.text}`);
    return res.json;
  }

  log() {
    try {
      return fs.readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  /** Stops the daemon (SIGTERM, SIGKILL after a grace period); returns what went wrong. */
  async stop({ graceMs = 8000 } = {}) {
    if (this.stopped) return [];
    this.stopped = true;
    this.publisher.close();
    const problems = [];
    if (this.exited) {
      problems.push(`the sidecar exited on its own during the test: ${JSON.stringify(this.exited)}`);
    } else {
      this.stopping = true;
      this.proc.kill('SIGTERM');
      if ((await withTimeout(this.exitPromise, graceMs)) === null) {
        problems.push(`the sidecar did not exit within ${graceMs} ms of SIGTERM; killed`);
        this.proc.kill('SIGKILL');
        await this.exitPromise;
      } else if (this.exited.code !== 0) {
        problems.push(`the sidecar exited with ${JSON.stringify(this.exited)} after SIGTERM`);
      }
    }
    const log = this.log();
    for (const marker of SANITIZER_MARKERS) {
      if (log.includes(marker)) problems.push(`the sidecar log contains "${marker}"`);
    }
    return problems;
  }

  cleanup() {
    if (!process.env.KEEP_TMP) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

async function startSidecar(config = {}, { readyTimeoutMs = 15000 } = {}) {
  requireBinary();
  let lastError;
  // Ports are probed free, then bound by the daemon: another process may take one in between,
  // so a start that fails to listen is retried on new ports.
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sse-browser-'));
    const ctx = { dir, ssePort: await freePort(), adminPort: await freePort(), socketPath: path.join(dir, 'run', 'publish.sock') };
    while (ctx.adminPort === ctx.ssePort) ctx.adminPort = await freePort();
    const configText = renderConfig(config, ctx);
    const configPath = path.join(dir, 'config.yaml');
    await fsp.writeFile(configPath, configText);
    const sidecar = new Sidecar({ ...ctx, configPath, configText, logPath: path.join(dir, 'sidecar.log') });
    sidecar.spawn();
    try {
      await sidecar.waitReady(readyTimeoutMs);
      return sidecar;
    } catch (err) {
      lastError = err;
      await sidecar.stop({ graceMs: 2000 });
      const log = sidecar.log();
      sidecar.cleanup();
      if (!log.includes('cannot listen')) {
        throw new Error(`sidecar did not start: ${err.message}\n--- config ---\n${configText}--- sidecar log ---\n${log}`);
      }
    }
  }
  throw new Error(`sidecar did not start: ${lastError.message}`);
}

// ---------------------------------------------------------------------------------------------
// Pages

// Runs in the page: records every EventSource the test opens, as plain JSON-able data, so the
// test can wait on it with page.waitForFunction and read it with page.evaluate.
const PROBE_SCRIPT = `
window.sse = (() => {
  const records = {};
  const sources = {};
  return {
    open(name, url, { withCredentials = false, events = [] } = {}) {
      const rec = { url, events: [], opens: 0, errors: 0, readyState: 0 };
      records[name] = rec;
      const es = new EventSource(url, { withCredentials });
      sources[name] = es;
      const record = (e) => rec.events.push({ type: e.type, data: e.data, lastEventId: e.lastEventId });
      es.addEventListener('message', record);
      for (const type of events) es.addEventListener(type, record);
      es.onopen = () => { rec.opens++; rec.readyState = es.readyState; };
      es.onerror = () => { rec.errors++; rec.readyState = es.readyState; };
      return true;
    },
    close(name) {
      sources[name].close();
      records[name].readyState = sources[name].readyState;
      return true;
    },
    get(name) {
      const rec = records[name];
      if (!rec) return null;
      rec.readyState = sources[name].readyState;
      return rec;
    },
  };
})();
`;

function probePage(title = 'probe', extraScript = '') {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${title}</title>
<script>${PROBE_SCRIPT}</script>
</head><body><h1>${title}</h1>
<script>${extraScript}</script>
</body></html>
`;
}

function sendRoute(route, req, res, body) {
  if (typeof route === 'function') return route(req, res, body);
  if (typeof route === 'string') route = { body: route, headers: { 'Content-Type': 'text/html; charset=utf-8' } };
  const { status = 200, headers = {}, body: payload = '' } = route;
  const data = Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload));
  res.writeHead(status, { 'Content-Length': data.length, 'Cache-Control': 'no-store', ...headers });
  res.end(data);
  return undefined;
}

async function startPageServer(routes = {}, { host = '127.0.0.1' } = {}) {
  const table = { '/probe.html': probePage(), '/favicon.ico': { status: 204 }, ...routes };
  const requests = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', async () => {
      const url = new URL(req.url, `http://${host}`);
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({ method: req.method, path: url.pathname, url: req.url, headers: req.headers, body });
      const route = table[url.pathname];
      try {
        if (route === undefined) sendRoute({ status: 404, body: 'not found' }, req, res, body);
        else await sendRoute(route, req, res, body);
      } catch (err) {
        if (!res.headersSent) res.writeHead(500);
        res.end(String(err));
      }
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const { port } = server.address();
  const origin = `http://${host}:${port}`;
  return {
    origin,
    port,
    requests,
    url: (p = '/probe.html') => `${origin}${p}`,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function launchBrowser() {
  // Loaded here so that the harness's other helpers work without node_modules.
  const { chromium } = require('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM_BIN, headless: true, args: BROWSER_ARGS });
}

// One browser per test process: launching Chromium costs a second or more, a new context (own
// cookies, storage and cache) almost nothing. Scopes hold it while their test runs; once none
// has for a moment (the next test of a file starts at once) it is closed, so that nothing keeps
// a finished test process alive. A browser that died is launched again.
const BROWSER_IDLE_MS = 500;
let sharedBrowserPromise = null;
let browserUsers = 0;
let idleTimer = null;

function sharedBrowser() {
  if (!sharedBrowserPromise) {
    const launching = launchBrowser();
    sharedBrowserPromise = launching;
    launching.then(
      (browser) => browser.on('disconnected', () => {
        if (sharedBrowserPromise === launching) sharedBrowserPromise = null;
      }),
      () => {
        if (sharedBrowserPromise === launching) sharedBrowserPromise = null;
      },
    );
  }
  return sharedBrowserPromise;
}

async function closeSharedBrowser() {
  clearTimeout(idleTimer);
  const launching = sharedBrowserPromise;
  sharedBrowserPromise = null;
  if (launching) await (await launching.catch(() => null))?.close();
}

function holdBrowser() {
  browserUsers++;
  clearTimeout(idleTimer);
  return sharedBrowser();
}

function releaseBrowser() {
  if (--browserUsers > 0) return;
  clearTimeout(idleTimer);
  idleTimer = setTimeout(() => closeSharedBrowser().catch(() => {}), BROWSER_IDLE_MS);
}

function openStream(page, name, url, options = {}) {
  return page.evaluate(([n, u, o]) => window.sse.open(n, u, o), [name, url, options]);
}

function streamState(page, name) {
  return page.evaluate((n) => window.sse.get(n), name);
}

async function waitOpen(page, name, { opens = 1, timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
  await page.waitForFunction(([n, k]) => (window.sse.get(n)?.opens ?? 0) >= k, [name, opens], { timeout: timeoutMs, polling: 20 });
}

/** A stream's record, shortened for an error message. */
function summarize(state) {
  if (!state) return 'no such stream';
  const { events, ...rest } = state;
  const shown = events.length <= 6 ? events : [...events.slice(0, 3), '…', ...events.slice(-3)];
  return JSON.stringify({ ...rest, count: events.length, events: shown });
}

async function waitEvents(page, name, count, { timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
  try {
    await page.waitForFunction(([n, k]) => (window.sse.get(n)?.events.length ?? 0) >= k, [name, count], { timeout: timeoutMs, polling: 20 });
  } catch (err) {
    const state = await streamState(page, name);
    throw new Error(`stream ${name}: ${state?.events.length ?? 0} of ${count} events after ${timeoutMs} ms: ${summarize(state)}`);
  }
  return (await streamState(page, name)).events;
}

/**
 * Records the page's HTTP exchanges through the DevTools protocol. Unlike Playwright's
 * response events this sees responses the browser then blocks (a CORS refusal is still a 403
 * on the wire), and the request headers the network stack really sent (Cookie,
 * Last-Event-ID). Entries: {url, requestHeaders, status, responseHeaders, failure}; header
 * names are lower-case.
 */
async function watchNetwork(page) {
  const cdp = await page.context().newCDPSession(page);
  const byId = new Map();
  const entry = (id) => {
    if (!byId.has(id)) byId.set(id, { url: '', requestHeaders: {}, status: 0, responseHeaders: {}, finished: false, failure: null });
    return byId.get(id);
  };
  const lower = (headers) => Object.fromEntries(Object.entries(headers || {}).map(([k, v]) => [k.toLowerCase(), v]));
  cdp.on('Network.requestWillBeSent', (e) => {
    const rec = entry(e.requestId);
    rec.url = e.request.url;
    rec.requestHeaders = { ...lower(e.request.headers), ...rec.requestHeaders };
  });
  cdp.on('Network.requestWillBeSentExtraInfo', (e) => {
    const rec = entry(e.requestId);
    rec.requestHeaders = { ...rec.requestHeaders, ...lower(e.headers) };
  });
  cdp.on('Network.responseReceivedExtraInfo', (e) => {
    const rec = entry(e.requestId);
    rec.status = e.statusCode;
    rec.responseHeaders = lower(e.headers);
  });
  cdp.on('Network.loadingFinished', (e) => {
    entry(e.requestId).finished = true;
  });
  cdp.on('Network.loadingFailed', (e) => {
    entry(e.requestId).failure = e.corsErrorStatus?.corsError || e.blockedReason || e.errorText;
  });
  await cdp.send('Network.enable');
  // A string is a URL prefix; a RegExp or a function (url => boolean) decides by itself.
  const matches = (match, url) =>
    typeof match === 'string' ? url.startsWith(match) : match instanceof RegExp ? match.test(url) : match(url);
  const entries = (match = () => true) => [...byId.values()].filter((rec) => rec.url && matches(match, rec.url));
  return {
    entries,
    /** Waits until an entry whose URL matches satisfies pred (default: it has a status). */
    async waitFor(match, pred = (rec) => rec.status > 0, { timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
      return waitFor(() => entries(match).find(pred), { timeoutMs, message: `a response from ${match}` });
    },
  };
}

function exactly(url) {
  return (candidate) => candidate === url;
}

async function waitClosed(page, name, { timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
  await page.waitForFunction((n) => window.sse.get(n)?.readyState === 2, name, { timeout: timeoutMs, polling: 20 });
  return streamState(page, name);
}

// ---------------------------------------------------------------------------------------------
// Credentials

const b64url = (data) => Buffer.from(data).toString('base64url');

function hs256Jwt(secret, claims, header = {}) {
  const input = `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT', ...header }))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${crypto.createHmac('sha256', secret).update(input).digest('base64url')}`;
}

// ---------------------------------------------------------------------------------------------
// Scope: everything a test starts, disposed of in reverse order when it ends

const tail = (text, lines = 80) => text.split('\n').slice(-lines).join('\n');

class Scope {
  constructor(t) {
    this.t = t;
    this.disposers = [];
    this.sidecars = [];
    this.consoles = [];
    this.holdsBrowser = false;
  }

  defer(fn) {
    this.disposers.push(fn);
  }

  async sidecar(config, options) {
    const sc = await startSidecar(config, options);
    this.sidecars.push(sc);
    this.defer(async () => {
      const problems = await sc.stop();
      if (problems.length === 0) sc.cleanup();
      return problems.map((p) => `${p}\n--- sidecar log (${sc.logPath}) ---\n${tail(sc.log())}`);
    });
    return sc;
  }

  async pageServer(routes, options) {
    const server = await startPageServer(routes, options);
    this.defer(() => server.stop());
    return server;
  }

  /** The process's shared browser, held until the test ends; make pages and contexts
   * through the scope, so that they are closed with it. */
  browser() {
    if (!this.holdsBrowser) {
      this.holdsBrowser = true;
      return holdBrowser();
    }
    return sharedBrowser();
  }

  /** A new browser context (own cookies and storage), closed when the test ends. */
  async context(options = {}) {
    const context = await (await this.browser()).newContext(options);
    this.defer(() => context.close());
    return context;
  }

  /**
   * A new page, in `context` or else in a context of its own, closed when the test ends; its
   * console is kept for the failure report.
   */
  async page(context) {
    const page = context ? await context.newPage() : await (await this.browser()).newPage();
    this.defer(() => page.close());
    const log = [];
    this.consoles.push({ page, log });
    page.on('console', (msg) => log.push(`[${msg.type()}] ${msg.text()}`));
    page.on('pageerror', (err) => log.push(`[pageerror] ${err.message}`));
    return page;
  }

  diagnostics() {
    const parts = [];
    for (const sc of this.sidecars) parts.push(`--- sidecar log (${sc.logPath}) ---\n${tail(sc.log())}`);
    this.consoles.forEach(({ log }, i) => {
      if (log.length) parts.push(`--- page ${i + 1} console ---\n${tail(log.join('\n'), 40)}`);
    });
    return parts.length ? `\n${parts.join('\n')}` : '';
  }

  async close() {
    const problems = [];
    while (this.disposers.length) {
      const dispose = this.disposers.pop();
      try {
        const found = await dispose();
        if (Array.isArray(found)) problems.push(...found);
      } catch (err) {
        problems.push(`cleanup failed: ${err.stack || err}`);
      }
    }
    if (this.holdsBrowser) releaseBrowser();
    return problems;
  }
}

function withScope(fn) {
  return async (t) => {
    const scope = new Scope(t);
    let failure;
    try {
      await fn(t, scope);
    } catch (err) {
      failure = err;
      // Captured before cleanup removes the temp dirs.
      const notes = scope.diagnostics();
      if (failure instanceof Error) failure.message += notes;
    }
    const problems = await scope.close();
    if (failure) {
      if (problems.length && failure instanceof Error) failure.message += `\n--- also at cleanup ---\n${problems.join('\n')}`;
      throw failure;
    }
    if (problems.length) throw new Error(problems.join('\n'));
  };
}

module.exports = {
  REPO_ROOT,
  SIDECAR_BIN,
  CHROMIUM_BIN,
  PUBLISH_TOKEN,
  BROWSER_ARGS,
  sleep,
  withTimeout,
  waitFor,
  freePort,
  deepMerge,
  toYaml,
  defaultConfig,
  checkConfig,
  acceptsConfig,
  daemonLacks,
  httpRequest,
  parseMetrics,
  startSidecar,
  Sidecar,
  startPageServer,
  probePage,
  launchBrowser,
  sharedBrowser,
  closeSharedBrowser,
  openStream,
  streamState,
  waitOpen,
  waitEvents,
  waitClosed,
  watchNetwork,
  exactly,
  hs256Jwt,
  withScope,
  Scope,
};
