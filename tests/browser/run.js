#!/usr/bin/env node
'use strict';
// Runs the browser tests with Node's built-in test runner: every *.test.js in this folder, or
// the files named on the command line; arguments starting with "--" go to `node --test`
// (e.g. --test-name-pattern=cookie). Checks first that what the tests need is there, so a
// missing piece is reported as such rather than as a failing test.
//
//   SIDECAR_BIN=path/to/sse-sidecar node tests/browser/run.js [FILE.test.js ...] [--option ...]
//
// BROWSER_TEST_JOBS sets how many test files run at once (default 2).

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { SIDECAR_BIN, CHROMIUM_BIN } = require('./harness');

function fail(message) {
  console.error(`browser tests: ${message}`);
  process.exit(1);
}

if (!fs.existsSync(SIDECAR_BIN)) fail(`no sse-sidecar binary at ${SIDECAR_BIN}; build it or set SIDECAR_BIN`);
if (!fs.existsSync(CHROMIUM_BIN)) fail(`no browser at ${CHROMIUM_BIN}; run scripts/setup --test or set CHROMIUM_BIN`);
try {
  require.resolve('playwright-core', { paths: [__dirname] });
} catch {
  fail('playwright-core is not installed; run scripts/setup --test (or npm ci --prefix tests/browser)');
}

const args = process.argv.slice(2);
const options = args.filter((a) => a.startsWith('--'));
const named = args.filter((a) => !a.startsWith('--')).map((f) => path.resolve(f));
const files = named.length
  ? named
  : fs.readdirSync(__dirname).filter((f) => f.endsWith('.test.js')).sort().map((f) => path.join(__dirname, f));

const jobs = Number(process.env.BROWSER_TEST_JOBS) || 2;
const result = spawnSync(
  process.execPath,
  // A test that hangs fails after a minute instead of holding the whole run.
  ['--test', `--test-concurrency=${jobs}`, '--test-timeout=60000', ...options, ...files],
  { stdio: 'inherit', cwd: __dirname, env: { ...process.env, SIDECAR_BIN } },
);
if (result.error) fail(result.error.message);
process.exit(result.status ?? 1);
