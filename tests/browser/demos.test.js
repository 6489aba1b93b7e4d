'use strict';
// The three example apps, started with scripts/demo on free ports and used the way a person
// would: chat (two users, receipts, presence, a private room), stocks (a live table), tasks
// (jobs, resume after a dropped connection, sidecar.missed, a reload). Each takes the screenshot
// the README shows (NAME.png, the viewport's size) into $DEMO_SCREENSHOTS_DIR when it is set
// (scripts/screenshots sets it, to refresh docs/screenshots/), else into a temporary directory
// removed when the tests end (kept with KEEP_TMP=1): a test run never writes into the tree.

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const h = require('./harness');

const DEMO = path.join(h.REPO_ROOT, 'scripts', 'demo');
const VIEWPORT = { width: 1200, height: 750 };

const SCREENSHOTS = process.env.DEMO_SCREENSHOTS_DIR
  ? path.resolve(process.env.DEMO_SCREENSHOTS_DIR)
  : fs.mkdtempSync(path.join(os.tmpdir(), 'sse-browser-screenshots-'));
if (!process.env.DEMO_SCREENSHOTS_DIR && !process.env.KEEP_TMP) {
  test.after(() => fs.rmSync(SCREENSHOTS, { recursive: true, force: true }));
}

function portIsFree(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * Runs `scripts/demo NAME` on free ports until the test ends; then stops it with SIGTERM and
 * checks that it exits 0 leaving nothing behind (ports free again, runtime directory gone).
 */
async function startDemo(scope, name, env = {}) {
  for (let attempt = 1; ; attempt++) {
    const ports = { app: await h.freePort(), sse: await h.freePort(), admin: await h.freePort() };
    if (new Set(Object.values(ports)).size !== 3) continue;
    const child = spawn(DEMO, [name], {
      env: {
        ...process.env,
        SIDECAR_BIN: h.SIDECAR_BIN,
        DEMO_APP_PORT: String(ports.app),
        DEMO_SSE_PORT: String(ports.sse),
        DEMO_ADMIN_PORT: String(ports.admin),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const demo = { name, ports, output: '', exited: null };
    child.stdout.on('data', (chunk) => { demo.output += chunk; });
    child.stderr.on('data', (chunk) => { demo.output += chunk; });
    const exit = new Promise((resolve) => child.on('exit', (code, signal) => {
      demo.exited = { code, signal };
      resolve(demo.exited);
    }));
    scope.defer(async () => {
      const problems = [];
      if (!demo.url) {
        // Never started (reported where it failed): only make sure it is gone.
        if (!demo.exited) child.kill('SIGKILL');
        return problems;
      }
      if (demo.exited) {
        problems.push(`scripts/demo ${name} exited during the test: ${JSON.stringify(demo.exited)}`);
      } else {
        child.kill('SIGTERM');
        let timer;
        const result = await Promise.race([exit, new Promise((resolve) => { timer = setTimeout(resolve, 15000, null); })]);
        clearTimeout(timer);
        if (!result) {
          child.kill('SIGKILL');
          problems.push(`scripts/demo ${name} did not stop within 15 s of SIGTERM`);
        } else if (result.code !== 0) {
          problems.push(`scripts/demo ${name} exited with ${JSON.stringify(result)} after SIGTERM`);
        }
      }
      for (const [which, port] of Object.entries(ports)) {
        if (!(await h.waitFor(() => portIsFree(port), { timeoutMs: 5000 }).catch(() => false))) {
          problems.push(`the ${which} port ${port} is still in use after the demo stopped`);
        }
      }
      for (const marker of ['ERROR: AddressSanitizer', 'LeakSanitizer', 'runtime error:', 'Traceback']) {
        if (demo.output.includes(marker)) problems.push(`the demo's output contains "${marker}"`);
      }
      const runtime = /publish socket (\S+)\/publish\.sock/.exec(demo.output);
      if (!runtime) problems.push('the sidecar never reported its publish socket');
      else if (fs.existsSync(runtime[1])) problems.push(`the runtime directory ${runtime[1]} was left behind`);
      return problems.map((p) => `${p}\n--- scripts/demo ${name} output ---\n${demo.output.slice(-4000)}`);
    });
    const started = await h.waitFor(() => demo.exited || /open (http:\/\/\S+?)\/?\s/.exec(demo.output),
      { timeoutMs: 60000, message: `scripts/demo ${name} to print its URL` });
    if (!demo.exited) {
      demo.url = `${started[1]}/`;
      demo.sseUrl = `http://127.0.0.1:${ports.sse}`;
      return demo;
    }
    // Another process may take a probed port before the demo binds it: try new ones.
    if (attempt < 3 && /is not free/.test(demo.output)) continue;
    throw new Error(`scripts/demo ${name} did not start: ${JSON.stringify(demo.exited)}\n${demo.output}`);
  }
}

/** Adds the demo's output (its app's and sidecar's logs) to a failure. */
function demoTest(fn) {
  return h.withScope(async (t, scope) => {
    const demos = [];
    try {
      await fn(t, scope, async (...args) => {
        const demo = await startDemo(scope, ...args);
        demos.push(demo);
        return demo;
      });
    } catch (err) {
      for (const d of demos) err.message += `\n--- scripts/demo ${d.name} output ---\n${d.output.slice(-6000)}`;
      throw err;
    }
  });
}

/** Saves the page as NAME.png and checks the file: a PNG of the viewport's size. */
async function screenshot(page, name) {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file });
  const png = fs.readFileSync(file);
  assert.ok(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
    `${file} is not a PNG`);
  assert.equal(png.toString('latin1', 12, 16), 'IHDR', `${file} has no IHDR chunk first`);
  assert.deepEqual({ width: png.readUInt32BE(16), height: png.readUInt32BE(20) }, VIEWPORT,
    `${file}: the screenshot's size`);
}

async function newPage(scope) {
  return scope.page(await scope.context({ viewport: VIEWPORT }));
}

async function logIn(page, url, name) {
  await page.goto(url);
  await page.fill('#login-name', name);
  await page.click('#login-form button');
  await page.waitForSelector('#stream-status[data-state="live"]');
}

const texts = (page, selector) => page.locator(selector).allTextContents();
const onlineList = (page) => page.$$eval('#online li', (items) => items.map((li) => li.dataset.user));

async function waitOnline(page, names) {
  const want = JSON.stringify([...names].sort());
  await h.waitFor(async () => JSON.stringify(await onlineList(page)) === want,
    { message: `the online list to be ${want}` }).catch(async (err) => {
    err.message += ` (it is ${JSON.stringify(await onlineList(page))})`;
    throw err;
  });
}

async function send(page, text) {
  await page.fill('#text', text);
  await page.press('#text', 'Enter');
}

test('chat: messages, delivery and read receipts, presence, a private room', demoTest(async (t, scope, demo) => {
  const chat = await demo('chat');
  const alice = await newPage(scope);
  const bob = await newPage(scope);
  await logIn(alice, chat.url, 'alice');
  await logIn(bob, chat.url, 'bob');

  // Both streams are open on chat.lobby: the presence events reach both lists.
  await waitOnline(alice, ['alice', 'bob']);
  await waitOnline(bob, ['alice', 'bob']);

  await send(alice, 'Morning! Is the 2.4 release still on for today?');
  await bob.waitForSelector('.msg:not(.mine) >> text=Is the 2.4 release still on');
  await send(bob, 'Yes, the last build just went green. Shipping at 3.');
  await alice.waitForSelector('.msg:not(.mine) >> text=the last build just went green');
  await send(alice, 'Great, I will let the customers know.');
  await bob.waitForSelector('.msg:not(.mine) >> text=I will let the customers know');

  // Delivery: the publish reply's subscriber count (alice's and bob's streams); read: bob's
  // focused page reported both messages.
  await h.waitFor(async () => {
    const receipts = await texts(alice, '.msg.mine .receipts');
    return receipts.length === 2 && receipts.every((r) => r.includes('delivered to 2') && r.includes('read by bob'));
  }, { message: "alice's receipts: delivered to 2, read by bob" });
  await h.waitFor(async () => {
    const receipts = await texts(bob, '.msg.mine .receipts');
    return receipts.length === 1 && receipts[0].includes('delivered to 2') && receipts[0].includes('read by alice');
  }, { message: "bob's receipt: delivered to 2, read by alice" });
  await screenshot(alice, 'chat');

  // bob tries the private room: the app refuses, and so does the sidecar on the stream.
  await bob.click('.room-link[data-room="staff"]');
  await bob.waitForSelector('#refusal >> text=#staff is private');
  await bob.waitForSelector('#refusal .mono >> text=403');
  // Leaving the lobby for it, bob left alice's online list.
  await waitOnline(alice, ['alice']);

  // Back in the lobby he is online again; closing his page, he leaves.
  await bob.click('.room-link[data-room="lobby"]');
  await waitOnline(alice, ['alice', 'bob']);
  await bob.close();
  await waitOnline(alice, ['alice']);
}));

test('stocks: the table fills and ticks', demoTest(async (t, scope, demo) => {
  const stocks = await demo('stocks');
  const page = await newPage(scope);
  const net = await h.watchNetwork(page);
  await page.goto(stocks.url);
  await page.waitForSelector('#stream-status[data-state="live"]');

  await h.waitFor(async () => (await page.$$('#quotes tr[data-price]')).length === 20, { message: '20 rows with prices' });
  const prices = () => page.$$eval('#quotes tr', (rows) => rows.map((r) => r.dataset.price));
  const before = await prices();
  await h.waitFor(async () => {
    const now = await prices();
    return now.filter((p, i) => p !== before[i]).length >= 10;
  }, { message: 'at least 10 prices to change' });
  // The page counts ticks over its last seconds: right after the first ones it shows less
  // than the 100 a second published, so wait for the figure to catch up.
  await h.waitFor(async () => Number(await page.textContent('#rate')) >= 20, {
    message: 'at least 20 ticks per second shown',
  });

  // The stream is anonymous and cross-origin: no cookie, the app's origin echoed.
  const stream = await net.waitFor(`${stocks.sseUrl}/events`, (e) => e.status === 200);
  assert.match(stream.url, /topic=stocks\.\*/);
  assert.equal(stream.requestHeaders.cookie, undefined);
  assert.equal(stream.responseHeaders['access-control-allow-origin'], new URL(stocks.url).origin);

  await page.click('#quotes tr[data-symbol="NVDA"]');
  await page.waitForSelector('#focus-symbol >> text=NVDA');
  await h.sleep(1500);
  await screenshot(page, 'stocks');
}));

test('tasks: progress per user, resume after a dropped connection, sidecar.missed, reload', demoTest(async (t, scope, demo) => {
  const tasks = await demo('tasks', { DEMO_FAIL_RATE: '0', DEMO_JOB_SECONDS: '6-10' });
  const page = await newPage(scope);
  const net = await h.watchNetwork(page);
  await logIn(page, tasks.url, 'alice');

  const shown = () => page.$$eval('.job', (jobs) => Object.fromEntries(
    jobs.map((j) => [j.dataset.job, { state: j.dataset.state, pct: Number(j.dataset.pct) }])));
  const actual = async () => {
    const res = await page.context().request.get(`${tasks.url}api/jobs`);
    assert.equal(res.status(), 200);
    return Object.fromEntries((await res.json()).jobs.map((j) => [j.job, { state: j.state, pct: j.pct }]));
  };
  // The page shows the app's state (give or take the progress made between the two reads).
  const matches = async () => {
    const [page, app] = [await shown(), await actual()];
    return Object.keys(page).length === Object.keys(app).length
      && Object.entries(app).every(([id, job]) => page[id] && page[id].state === job.state
        && Math.abs(page[id].pct - job.pct) <= 10);
  };
  const startJob = (body) => page.evaluate((b) => fetch('/api/jobs', { method: 'POST', body: b }).then((r) => r.json()), body);

  await page.click('#start');
  await page.click('#start');
  await h.waitFor(async () => {
    const jobs = Object.values(await shown());
    return jobs.length === 2 && jobs.every((j) => j.state === 'running' && j.pct > 0);
  }, { message: 'two running jobs' });
  const first = await shown();
  await h.waitFor(async () => {
    const now = await shown();
    return Object.keys(first).every((id) => now[id].pct > first[id].pct);
  }, { message: 'both bars to advance' });

  // A reload shows the state at once and follows it on.
  await page.reload();
  await page.waitForSelector('#stream-status[data-state="live"]');
  await h.waitFor(matches, { message: 'the state after a reload' });

  // Offline for 3 s: the bars stand still while the jobs go on; back online, the sidecar
  // replays what was missed (Last-Event-ID) and the bars catch up.
  const third = (await startJob('{}')).job.job;
  await h.waitFor(async () => (await shown())[third]?.pct > 0, { message: 'a third job running' });
  await page.click('#drop');
  await page.waitForSelector('#stream-status[data-state="closed"]');
  const frozen = await shown();
  await h.sleep(2000);
  assert.deepEqual(await shown(), frozen, 'nothing arrives while the stream is down');
  await page.waitForSelector('#stream-status[data-state="live"]', { timeout: 10000 });
  await page.waitForSelector('#log >> text=back online: resuming after');
  await net.waitFor(`${tasks.sseUrl}/events`, (e) => /last_event_id=/.test(e.url) && e.status === 200);
  await h.waitFor(matches, { message: "the page to show the app's state after the resume" });
  assert.ok(!(await page.textContent('#log')).includes('sidecar.missed'), 'the resume was complete');

  // An id the sidecar never issued: it answers sidecar.missed, the page reloads every job.
  await page.click('#stale');
  await page.waitForSelector('#log >> text=sidecar.missed');
  await h.waitFor(matches, { message: "the page to show the app's state after sidecar.missed" });

  // Another user's topic is refused with alice's token.
  await page.fill('#peek-name', 'bob');
  await page.click('#peek-form button');
  await page.waitForSelector('#peek-result.refused >> text=403');
  assert.match(await page.textContent('#peek-result'), /tasks\.bob/);

  // bob, logged in elsewhere, sees none of alice's jobs.
  const bob = await newPage(scope);
  await logIn(bob, tasks.url, 'bob');
  await bob.waitForSelector('#jobs .empty');
  assert.equal((await bob.$$('.job')).length, 0);
  await bob.close();

  // A job that fails, and one more running, for a screenshot with every state.
  const failing = (await startJob('{"fail": true}')).job.job;
  await page.waitForSelector(`.job[data-job="${failing}"][data-state="failed"]`, { timeout: 15000 });
  const last = (await startJob('{"name": "Import contacts"}')).job.job;
  await h.waitFor(async () => (await shown())[last]?.pct >= 8, { message: 'the last job to make progress' });
  await h.waitFor(async () => Object.values(await shown()).some((j) => j.state === 'done'), { message: 'a job done' });
  await screenshot(page, 'tasks');

  await h.waitFor(async () => Object.values(await shown()).every((j) => j.state === 'done' || j.state === 'failed')
    && matches(), { timeoutMs: 20000, message: 'every job to finish, shown as the app has it' });
  assert.equal((await shown())[failing].state, 'failed');
}));
