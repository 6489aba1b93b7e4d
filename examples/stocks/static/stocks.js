/* The market page: a snapshot from the app, then every tick from the sidecar (topic stocks.*). */
'use strict';

const { api, el, setStatus, toast } = Demo;
const $ = (id) => document.getElementById(id);
const HISTORY = 240;
const rows = new Map();        // symbol -> {quote, history, tr, cells, spark}
let selected = null;
let received = 0;
let reconnects = 0;
const arrivals = [];           // timestamps of the last second's ticks
let chartDirty = true;

const money = (p) => p.toFixed(2);
const signed = (v, digits) => (v > 0 ? '+' : v < 0 ? '−' : '') + Math.abs(v).toFixed(digits);
const direction = (v) => (v > 0 ? 'up' : v < 0 ? 'down' : '');

function addRow(q) {
  const spark = el('canvas', { width: 220, height: 48 });
  const cells = {
    price: el('td', { class: 'num' }, el('span', { class: 'price' })),
    change: el('td', { class: 'num mono' }),
    pct: el('td', { class: 'num' }, el('span', { class: 'badge' })),
    vol: el('td', { class: 'num vol' }),
  };
  const tr = el('tr', { 'data-symbol': q.s, onclick: () => select(q.s) },
    el('td', { class: 'sym' }, el('b', {}, q.s), el('span', {}, q.name)),
    cells.price, cells.change, cells.pct, el('td', { class: 'spark' }, spark), cells.vol);
  $('quotes').append(tr);
  rows.set(q.s, { quote: q, history: q.history.slice(-HISTORY), tr, cells, spark });
}

function showQuote(row, flash) {
  const q = row.quote;
  const price = row.cells.price.firstChild;
  const previous = parseFloat(price.textContent);
  price.textContent = money(q.p);
  row.cells.change.textContent = signed(q.c, 2);
  row.cells.change.className = 'num mono ' + direction(q.c);
  const badge = row.cells.pct.firstChild;
  badge.textContent = signed(q.cp, 2) + '%';
  badge.className = 'badge ' + direction(q.cp);
  row.cells.vol.textContent = q.v.toLocaleString('en-US');
  row.tr.dataset.price = q.p;
  if (flash && !Number.isNaN(previous) && previous !== q.p) {
    const up = q.p > previous;
    price.animate([
      { background: up ? 'rgba(21,146,74,.28)' : 'rgba(211,58,58,.25)', color: up ? '#0d6b35' : '#a32626' },
      { background: 'transparent' },
    ], { duration: 700, easing: 'ease-out' });
  }
  drawLine(row.spark, row.history, q.o, false);
}

/** A price line on a canvas; `full` adds the area fill, the open line and labels. */
function drawLine(canvas, prices, open, full) {
  const ratio = window.devicePixelRatio || 1;
  if (full) {
    const w = Math.round(canvas.clientWidth * ratio), h = Math.round(canvas.clientHeight * ratio);
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  }
  const ctx = canvas.getContext('2d');
  const W = canvas.width, H = canvas.height;
  ctx.clearRect(0, 0, W, H);
  if (prices.length < 2) return;
  const pad = full ? 10 * ratio : 3;
  let lo = Math.min(open, ...prices), hi = Math.max(open, ...prices);
  if (hi - lo < 1e-9) { hi += 1; lo -= 1; }
  const x = (i) => pad + (i * (W - 2 * pad)) / (HISTORY - 1) + (HISTORY - prices.length) * (W - 2 * pad) / (HISTORY - 1);
  const y = (p) => H - pad - ((p - lo) / (hi - lo)) * (H - 2 * pad);
  const last = prices[prices.length - 1];
  const color = last >= open ? '#15924a' : '#d33a3a';

  ctx.setLineDash(full ? [5 * ratio, 5 * ratio] : [3, 3]);
  ctx.strokeStyle = '#c7cde0';
  ctx.lineWidth = full ? ratio : 1;
  ctx.beginPath(); ctx.moveTo(pad, y(open)); ctx.lineTo(W - pad, y(open)); ctx.stroke();
  ctx.setLineDash([]);

  ctx.beginPath();
  prices.forEach((p, i) => (i ? ctx.lineTo(x(i), y(p)) : ctx.moveTo(x(i), y(p))));
  if (full) {
    const fill = ctx.createLinearGradient(0, 0, 0, H);
    fill.addColorStop(0, color + '40');
    fill.addColorStop(1, color + '00');
    ctx.save();
    ctx.lineTo(x(prices.length - 1), H); ctx.lineTo(x(0), H); ctx.closePath();
    ctx.fillStyle = fill; ctx.fill();
    ctx.restore();
    ctx.beginPath();
    prices.forEach((p, i) => (i ? ctx.lineTo(x(i), y(p)) : ctx.moveTo(x(i), y(p))));
  }
  ctx.strokeStyle = color;
  ctx.lineWidth = full ? 2 * ratio : 1.5;
  ctx.lineJoin = 'round';
  ctx.stroke();
  if (full) {
    ctx.fillStyle = color;
    ctx.beginPath(); ctx.arc(x(prices.length - 1), y(last), 4 * ratio, 0, Math.PI * 2); ctx.fill();
  }
}

function select(symbol) {
  selected = symbol;
  for (const [s, row] of rows) row.tr.classList.toggle('selected', s === symbol);
  chartDirty = true;
}

function renderFocus() {
  requestAnimationFrame(renderFocus);
  if (!chartDirty || !selected) return;
  chartDirty = false;
  const row = rows.get(selected);
  const q = row.quote;
  $('focus-symbol').textContent = q.s;
  $('focus-name').textContent = q.name;
  $('focus-price').textContent = money(q.p);
  const change = $('focus-change');
  change.textContent = `${signed(q.c, 2)} (${signed(q.cp, 2)}%)`;
  change.className = 'change ' + direction(q.c);
  $('focus-open').textContent = money(q.o);
  $('focus-low').textContent = money(Math.min(...row.history));
  $('focus-high').textContent = money(Math.max(...row.history));
  drawLine($('chart'), row.history, q.o, true);
}
window.addEventListener('resize', () => { chartDirty = true; });

function onTick(event) {
  const t = JSON.parse(event.data);
  const row = rows.get(t.s);
  received++;
  arrivals.push(performance.now());
  $('last-id').textContent = event.lastEventId;
  if (!row) return;
  Object.assign(row.quote, t);
  row.history.push(t.p);
  if (row.history.length > HISTORY) row.history.shift();
  showQuote(row, true);
  if (t.s === selected) chartDirty = true;
}

setInterval(() => {
  const now = performance.now();
  while (arrivals.length && now - arrivals[0] > 1000) arrivals.shift();
  $('rate').textContent = arrivals.length;
  $('received').textContent = received.toLocaleString('en-US');
}, 250);

async function loadSnapshot() {
  const snapshot = await api('GET', '/api/snapshot');
  for (const q of snapshot.symbols) {
    if (!rows.has(q.s)) addRow(q);
    const row = rows.get(q.s);
    row.quote = q;
    row.history = q.history.slice(-HISTORY);
    showQuote(row, false);
  }
  if (!selected) select(snapshot.symbols[0].s);
  chartDirty = true;
}

async function start() {
  const config = await api('GET', '/api/config');
  await loadSnapshot();
  const url = `${config.sse}/events?topic=stocks.*`;
  $('stream-url').textContent = url.replace(/^https?:\/\//, '');
  // Anonymous: stocks.* is public on the sidecar, no credentials needed.
  const es = new EventSource(url);
  let opened = false;
  es.onopen = () => {
    setStatus('live', 'live');
    if (opened) $('reconnects').textContent = ++reconnects;
    opened = true;
  };
  es.addEventListener('tick', onTick);
  // Resume was impossible (the sidecar restarted, or we were away too long): start over.
  es.addEventListener('sidecar.missed', () => loadSnapshot().catch((e) => toast(e.message, 'error')));
  es.onerror = async () => {
    if (es.readyState !== EventSource.CLOSED) return setStatus('connecting', 'reconnecting…');
    setStatus('closed', 'disconnected');
    toast(`Stream refused: ${await Demo.streamRefusal(url, false)}`, 'error');
  };
  renderFocus();
}

start().catch((e) => { setStatus('closed', 'error'); toast(e.message, 'error'); });
