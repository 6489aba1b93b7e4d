'use strict';
// Several sidecars on one Redis (engine.type: redis) behave as one service for a browser: an
// event published on node B reaches a page's EventSource on node A, with the id Redis gave
// it, and a page that loses its node resumes on another one with the last id it saw, missing
// nothing and seeing nothing twice. Each test runs its own redis-server (no persistence) on a
// free loopback port; the tests are skipped when redis-server is not installed.

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const h = require('./harness');

const TOPIC = 'public.cluster';
const ID = /^(\d+)-(\d+)$/;

// ---------------------------------------------------------------------------------------------
// redis-server

function findExecutable(name) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

const REDIS_SERVER = process.env.REDIS_SERVER_BIN || findExecutable('redis-server');
const SKIP = REDIS_SERVER
  ? false
  : 'redis-server is not installed (Debian package redis-server, installed by scripts/setup --test; or set REDIS_SERVER_BIN)';

// A redis-server still running when the test process exits (a crash, a runner timeout) is
// killed, so a failed run never leaves one holding a port.
const liveRedis = new Set();
process.on('exit', () => {
  for (const child of liveRedis) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** true once a TCP connection to the port is answered "+PONG" to PING. */
function pingOnce(port, timeoutMs = 500) {
  return new Promise((resolve) => {
    let reply = '';
    const socket = net.createConnection({ host: '127.0.0.1', port });
    const done = (ok) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk;
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG\r\n'));
    });
    socket.on('error', () => done(false));
    socket.on('close', () => done(false));
  });
}

class RedisServer {
  constructor(dir, port) {
    this.dir = dir;
    this.port = port;
    this.address = `127.0.0.1:${port}`;
    this.logPath = path.join(dir, 'redis.log');
    this.exited = null;
    this.stopped = false;
  }

  spawn() {
    const logFd = fs.openSync(this.logPath, 'a');
    this.proc = spawn(
      REDIS_SERVER,
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir],
      { stdio: ['ignore', logFd, logFd] },
    );
    fs.closeSync(logFd);
    liveRedis.add(this.proc);
    this.exitPromise = new Promise((resolve) => {
      const gone = (code, signal) => {
        liveRedis.delete(this.proc);
        this.exited = this.exited || { code, signal };
        resolve(this.exited);
      };
      this.proc.on('exit', gone);
      this.proc.on('error', (err) => gone(null, String(err)));
    });
  }

  async waitReady(timeoutMs) {
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (this.exited) throw new Error(`redis-server exited with ${JSON.stringify(this.exited)}`);
      if (await pingOnce(this.port)) return;
      if (Date.now() > end) throw new Error(`redis-server did not answer PING within ${timeoutMs} ms`);
      await h.sleep(25);
    }
  }

  log() {
    try {
      return fs.readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  /** SIGTERM, SIGKILL after a grace period; returns what went wrong. */
  async stop({ graceMs = 5000 } = {}) {
    if (this.stopped) return [];
    this.stopped = true;
    const problems = [];
    if (this.exited) {
      problems.push(`redis-server exited on its own during the test: ${JSON.stringify(this.exited)}`);
    } else {
      this.proc.kill('SIGTERM');
      if ((await h.withTimeout(this.exitPromise, graceMs)) === null) {
        problems.push(`redis-server did not exit within ${graceMs} ms of SIGTERM; killed`);
        this.proc.kill('SIGKILL');
        await this.exitPromise;
      }
    }
    return problems;
  }

  cleanup() {
    if (!process.env.KEEP_TMP) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A redis-server of the test's own, stopped (and its temp dir removed) when the test ends,
 * pass or fail. The port is probed free, then bound by the server: a start that loses the
 * port to another process is retried on a new one.
 */
async function startRedis(scope) {
  let lastError;
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sse-browser-redis-'));
    const redis = new RedisServer(dir, await h.freePort());
    redis.spawn();
    try {
      await redis.waitReady(10000);
    } catch (err) {
      lastError = err;
      await redis.stop({ graceMs: 2000 });
      const log = redis.log();
      redis.cleanup();
      if (/address already in use/i.test(log)) continue;
      throw new Error(`redis-server did not start: ${err.message}\n--- redis log ---\n${log}`);
    }
    scope.defer(async () => {
      const problems = await redis.stop();
      const log = redis.log();
      redis.cleanup();
      return problems.map((p) => `${p}\n--- redis log ---\n${log.split('\n').slice(-40).join('\n')}`);
    });
    return redis;
  }
  throw new Error(`redis-server did not start: ${lastError.message}`);
}

// ---------------------------------------------------------------------------------------------
// The cluster

/** Redis, a page server and two sidecars on that Redis, which the page's origin may stream from. */
async function startCluster(scope) {
  const redis = await startRedis(scope);
  const pages = await scope.pageServer();
  const config = {
    engine: {
      type: 'redis',
      redis: { address: redis.address, key_prefix: `browser-cluster-${crypto.randomUUID()}:` },
    },
    cors: { allow_origins: [pages.origin] },
    // Browsers come back soon after a stream ends (a drain's hint is at least 500 ms).
    stream: { retry: '250ms' },
  };
  const a = await scope.sidecar(config);
  const b = await scope.sidecar(config);
  const page = await scope.page();
  await page.goto(pages.url());
  return { redis, pages, a, b, page };
}

const parseId = (id) => {
  const match = ID.exec(id);
  assert.ok(match, `event id ${JSON.stringify(id)} is <epoch>-<seq>`);
  return { epoch: match[1], seq: BigInt(match[2]) };
};

/** Ids of one epoch with strictly increasing seqs. */
function assertOneSequence(ids) {
  const parsed = ids.map(parseId);
  for (let i = 1; i < parsed.length; i++) {
    assert.equal(parsed[i].epoch, parsed[0].epoch, `ids ${ids[0]} and ${ids[i]} are of one epoch`);
    assert.ok(parsed[i].seq > parsed[i - 1].seq, `seq increases: ${ids[i - 1]} then ${ids[i]}`);
  }
}

/** Publishes on `node`, returning the event as the page's EventSource must report it. */
async function publishOn(node, data) {
  const reply = await node.publish({ topic: TOPIC, data });
  parseId(reply.id);
  return { type: 'message', data, lastEventId: reply.id };
}

// sidecar.missed would mean a resume failed: streams record it, so a comparison shows it.
const STREAM_OPTIONS = { events: ['sidecar.missed'] };

// ---------------------------------------------------------------------------------------------

test('an event published on node B reaches a page streaming from node A, with its id', { skip: SKIP }, h.withScope(async (t, scope) => {
  const { a, b, page } = await startCluster(scope);
  const network = await h.watchNetwork(page);
  const url = a.eventsUrl(TOPIC);
  await h.openStream(page, 's', url, STREAM_OPTIONS);
  await h.waitOpen(page, 's');
  const response = await network.waitFor(h.exactly(url));
  assert.equal(response.status, 200);

  const expected = [];
  for (let i = 1; i <= 5; i++) {
    const reply = await b.publish({ topic: TOPIC, data: `from node B #${i} ✓` });
    // `subscribers` counts the publishing node's streams: B has none, the page is on A.
    assert.equal(reply.subscribers, 0, `node B's reply: ${JSON.stringify(reply)}`);
    expected.push({ type: 'message', data: `from node B #${i} ✓`, lastEventId: reply.id });
  }
  assertOneSequence(expected.map((e) => e.lastEventId));

  assert.deepEqual(await h.waitEvents(page, 's', expected.length), expected);

  // Exactly those: an event published after them is the next one the page sees.
  const marker = await publishOn(b, 'marker');
  const events = await h.waitEvents(page, 's', expected.length + 1);
  assert.deepEqual(events, [...expected, marker]);
  assertOneSequence(events.map((e) => e.lastEventId));
  const state = await h.streamState(page, 's');
  assert.equal(state.opens, 1, 'one stream, never reconnected');
  assert.equal(state.errors, 0);
}));

test('a page whose node stops resumes on the other node with the last id it saw', { skip: SKIP }, h.withScope(async (t, scope) => {
  const { a, b, page } = await startCluster(scope);
  const network = await h.watchNetwork(page);
  const urlA = a.eventsUrl(TOPIC);
  await h.openStream(page, 'a', urlA, STREAM_OPTIONS);
  await h.waitOpen(page, 'a');

  // Two events on A's stream, one published on each node: one sequence for the service.
  const first = [await publishOn(a, 'before 1 (node A)'), await publishOn(b, 'before 2 (node B)')];
  assert.deepEqual(await h.waitEvents(page, 'a', 2), first);
  const seen = await h.streamState(page, 'a');
  const lastId = seen.events.at(-1).lastEventId;
  assert.equal(lastId, first[1].lastEventId);

  // Node A goes away: its stream ends cleanly and the page's EventSource starts reconnecting,
  // to A's URL (an EventSource always does).
  assert.deepEqual(await a.stop(), [], 'node A stops cleanly');
  await page.waitForFunction(() => window.sse.get('a').errors >= 1, null, { timeout: 10000, polling: 20 });
  const [firstA] = network.entries(h.exactly(urlA));
  assert.equal(firstA.status, 200);
  assert.equal(firstA.requestHeaders['last-event-id'], undefined);
  assert.ok(firstA.finished && !firstA.failure, `node A's stream ended cleanly: ${JSON.stringify(firstA)}`);
  // The browser's own retry finds no one at A's address, and it keeps trying. (DevTools
  // reports no final request headers for a refused connection, so the Last-Event-ID such a
  // retry carries is not visible here; the page's record of the last id is.)
  const retry = await network.waitFor(h.exactly(urlA), (rec) => rec !== firstA && rec.failure);
  assert.equal(retry.failure, 'net::ERR_CONNECTION_REFUSED');
  assert.equal((await h.streamState(page, 'a')).readyState, 0, 'EventSource is CONNECTING, not given up');

  // Published while the page has no stream anywhere.
  const missed = [];
  for (let i = 1; i <= 3; i++) missed.push(await publishOn(b, `missed ${i} (node B)`));

  // The page resumes on node B, passing the id in the query as polyfills do.
  const urlB = b.eventsUrl(TOPIC, { last_event_id: lastId });
  await h.openStream(page, 'b', urlB, STREAM_OPTIONS);
  await h.waitOpen(page, 'b');
  const resumed = await network.waitFor(h.exactly(urlB));
  assert.equal(resumed.status, 200);
  assert.equal(new URL(resumed.url).searchParams.get('last_event_id'), lastId);
  assert.equal(resumed.requestHeaders['last-event-id'], undefined, 'a first connect: the id is in the URL only');
  assert.deepEqual(await h.waitEvents(page, 'b', missed.length), missed, 'exactly the missed events, in order');

  // Then live ones (A is gone: published on B too), after the replay and nothing twice.
  const live = await publishOn(b, 'live (node B)');
  const events = await h.waitEvents(page, 'b', missed.length + 1);
  assert.deepEqual(events, [...missed, live]);
  assertOneSequence([...first, ...events].map((e) => e.lastEventId));

  // The first stream saw nothing more once its node stopped.
  assert.deepEqual((await h.streamState(page, 'a')).events, first);
}));
