/* The jobs page: start jobs through the app; follow their progress on the sidecar with a
   short-lived JWT for this user's topic, renewed before it expires. */
'use strict';

const { api, el, avatar, setStatus, toast } = Demo;
const $ = (id) => document.getElementById(id);

const state = {
  sse: '', user: null,
  jobs: new Map(),         // job id -> job, newest state by `rev`
  es: null, token: null, lastId: '', events: 0,
  renewTimer: null, retryTimer: null,
};

// -- login ---------------------------------------------------------------------------------------

async function boot() {
  state.sse = (await api('GET', '/api/config')).sse;
  await session.start();
}

const session = Demo.signIn({
  view: 'jobs-view',
  enter: (reply) => enter(reply.user),
  leave: () => disconnect(),
});
const showLogin = () => session.showLogin();

async function enter(user) {
  state.user = user;
  state.jobs.clear();
  state.lastId = '';
  $('login-view').hidden = true;
  $('jobs-view').hidden = false;
  $('user-chip').hidden = false;
  $('stream-status').hidden = false;
  $('user-avatar').replaceChildren(avatar(user));
  $('user-name').textContent = user;
  $('log').replaceChildren();
  await reloadJobs();
  connect('opened');
}

// -- the stream ----------------------------------------------------------------------------------

/** Opens the stream with a fresh token, resuming after the last event seen (if any). */
async function connect(why) {
  clearTimeout(state.retryTimer);
  clearTimeout(state.renewTimer);
  let token;
  try {
    token = await api('GET', '/api/token');
  } catch (e) {
    if (e.status === 401) return showLogin();
    log(`cannot get a token: ${e.message}; retrying`, 'warn');
    state.retryTimer = setTimeout(() => connect(why), 3000);
    return;
  }
  if (state.es) state.es.close();
  state.token = token;
  $('topic').textContent = token.topic;
  const resumeFrom = state.lastId;
  let url = `${state.sse}/events?topic=${token.topic}&access_token=${encodeURIComponent(token.token)}`;
  if (resumeFrom) url += `&last_event_id=${encodeURIComponent(resumeFrom)}`;
  const es = new EventSource(url);
  state.es = es;
  setStatus('connecting', 'connecting…');
  // Renew well before expiry: the sidecar ends a JWT stream when its token expires.
  state.renewTimer = setTimeout(() => connect('token renewed'), token.ttl * 750);

  es.onopen = () => {
    if (state.es !== es) return;
    setStatus('live', 'live');
    if (resumeFrom) {
      log(`${why}: resuming after ${resumeFrom}`, 'ok');
    } else {
      log(`${why}: stream open on ${token.topic}`, 'ok');
      // What happened before the stream was open comes from the app.
      reloadJobs();
    }
  };
  es.addEventListener('progress', (event) => {
    if (state.es !== es) return;
    state.lastId = event.lastEventId;
    $('last-id').textContent = event.lastEventId;
    $('events').textContent = ++state.events;
    applyJob(JSON.parse(event.data));
  });
  es.addEventListener('sidecar.missed', async (event) => {
    if (state.es !== es) return;
    state.lastId = event.lastEventId;
    const reason = JSON.parse(event.data).reason;
    log(`sidecar.missed (${reason}): reloading every job from the app`, 'warn');
    await reloadJobs();
  });
  es.addEventListener('sidecar.expired', () => {
    if (state.es !== es) return;
    log('token expired: renewing', 'warn');
    connect('token renewed');
  });
  es.onerror = async () => {
    if (state.es !== es) return;
    if (es.readyState !== EventSource.CLOSED) {
      // The browser reconnects by itself, sending Last-Event-ID.
      setStatus('connecting', 'reconnecting…');
      return;
    }
    setStatus('closed', 'disconnected');
    const refusal = await Demo.streamRefusal(url, false);
    if (state.es !== es) return;
    log(`stream refused (${refusal || 'no answer'}); reconnecting with a new token`, 'warn');
    state.retryTimer = setTimeout(() => connect('reconnected'), 2000);
  };
}

function disconnect() {
  clearTimeout(state.renewTimer);
  clearTimeout(state.retryTimer);
  if (state.es) state.es.close();
  state.es = null;
}

setInterval(() => {
  const t = state.token;
  if (!t || !state.es) return;
  const left = Math.max(0, t.expires_at - Math.floor(Date.now() / 1000));
  $('token-left').textContent = `expires in ${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}`;
}, 500);

$('drop').addEventListener('click', () => {
  disconnect();
  setStatus('closed', 'offline');
  log('connection dropped for 3 s (jobs keep running)', 'warn');
  state.retryTimer = setTimeout(() => connect('back online'), 3000);
});

$('stale').addEventListener('click', () => {
  disconnect();
  state.lastId = '1000000000000-1';
  connect('reconnected with an id the sidecar never issued');
});

// -- jobs ----------------------------------------------------------------------------------------

async function reloadJobs() {
  try {
    const { jobs } = await api('GET', '/api/jobs');
    for (const job of jobs) applyJob(job);
    renderSummary();
  } catch (e) {
    if (e.status === 401) return showLogin();
    toast(`Could not load jobs: ${e.message}`, 'error');
  }
}

/** Keeps the newest state of a job: events and reloads may arrive in any order. */
function applyJob(job) {
  const known = state.jobs.get(job.job);
  if (known && known.rev >= job.rev) return;
  state.jobs.set(job.job, job);
  renderJob(job);
  renderSummary();
}

function renderJob(job) {
  let node = document.querySelector(`.job[data-job="${job.job}"]`);
  if (!node) {
    node = el('div', { class: 'job', 'data-job': job.job },
      el('div', { class: 'job-top' },
        el('span', { class: 'job-name' }), el('span', { class: 'job-id' }, job.job),
        el('span', { class: 'spacer' }), el('span', { class: 'state' }), el('span', { class: 'job-pct' })),
      el('div', { class: 'bar' }, el('div', {})),
      el('div', { class: 'job-detail' }));
    const list = $('jobs');
    const empty = list.querySelector('.empty');
    if (empty) empty.remove();
    list.prepend(node);
  }
  node.className = `job ${job.state}`;
  node.dataset.state = job.state;
  node.dataset.pct = job.pct;
  node.querySelector('.job-name').textContent = job.name;
  const badge = node.querySelector('.state');
  badge.textContent = job.state;
  badge.className = `state ${job.state}`;
  node.querySelector('.job-pct').textContent = `${job.pct}%`;
  node.querySelector('.bar > div').style.width = `${job.pct}%`;
  node.querySelector('.job-detail').textContent = detail(job);
}

function detail(job) {
  const started = Demo.time(job.started);
  if (job.state === 'done') return `Started ${started} · done in ${((job.finished - job.started) / 1000).toFixed(1)} s`;
  if (job.state === 'failed') return `Failed at ${job.pct}%: ${job.error}`;
  if (job.state === 'queued') return `Queued at ${started}`;
  return `Started ${started} · running`;
}

function renderSummary() {
  const all = [...state.jobs.values()];
  const count = (s) => all.filter((j) => j.state === s).length;
  $('summary').textContent = all.length
    ? `${count('running') + count('queued')} running · ${count('done')} done · ${count('failed')} failed`
    : 'No jobs yet';
  if (!all.length && !$('jobs').children.length) {
    $('jobs').append(el('div', { class: 'empty' }, 'Start a job: its progress shows up here live.'));
  }
}

$('start').addEventListener('click', async () => {
  try {
    const { job } = await api('POST', '/api/jobs', {});
    applyJob(job);
  } catch (e) {
    toast(e.message, 'error');
  }
});

// -- peeking -------------------------------------------------------------------------------------

$('peek-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const name = $('peek-name').value.trim().toLowerCase();
  const box = $('peek-result');
  box.className = 'peek-result muted';
  if (!/^[a-z][a-z0-9_-]{0,19}$/.test(name)) {
    box.textContent = 'Enter a user name (1-20 letters, digits, _ or -).';
    return;
  }
  if (!state.token) return;
  const url = `${state.sse}/events?topic=tasks.${name}&access_token=${encodeURIComponent(state.token.token)}`;
  const refusal = await Demo.streamRefusal(url, false);
  if (refusal) {
    box.className = 'peek-result refused';
    box.replaceChildren(`Refused by the sidecar — `, el('span', { class: 'mono' }, refusal));
  } else {
    box.textContent = name === state.user ? 'That is you: your token grants tasks.' + name + '.'
      : 'Unexpectedly admitted!';
  }
});

// -- activity ------------------------------------------------------------------------------------

function log(text, kind) {
  const list = $('log');
  list.prepend(el('li', { class: kind || '' }, el('time', {}, new Date().toLocaleTimeString([], { hour12: false })), text));
  while (list.children.length > 30) list.lastChild.remove();
}

boot().catch((e) => toast(e.message, 'error'));
