/* The chat page: the app's JSON API for everything it does, one EventSource on the sidecar for
   everything that happens (messages, read receipts, who is online). */
'use strict';

const { api, el, avatar, setStatus, toast } = Demo;
const $ = (id) => document.getElementById(id);

const state = {
  sse: '', user: null, rooms: [], staff: [],
  room: null, es: null, live: false,
  messages: new Map(),     // id -> message, for the current room
  online: new Set(),       // subjects with a stream open on chat.<room>
  unread: new Set(),       // ids displayed but not yet reported as read
};

// -- login ---------------------------------------------------------------------------------------

async function boot() {
  const config = await api('GET', '/api/config');
  state.sse = config.sse;
  $('staff-hint').textContent =
    `${config.staff.join(' and ')} are staff: only they may join the private room #staff.`;
  await session.start();
}

const session = Demo.signIn({
  view: 'chat-view',
  enter: (me) => enter(me),
  leave: () => {
    closeStream();
    state.user = null;
  },
});
const showLogin = () => session.showLogin();

function enter(me) {
  state.user = me.user;
  state.rooms = me.rooms;
  $('login-view').hidden = true;
  $('chat-view').hidden = false;
  $('user-chip').hidden = false;
  $('stream-status').hidden = false;
  $('user-avatar').replaceChildren(avatar(me.user));
  $('user-name').textContent = me.user;
  renderRooms();
  openRoom(roomFromHash());
}

// -- rooms ---------------------------------------------------------------------------------------

function roomFromHash() {
  const name = decodeURIComponent(location.hash.slice(1));
  return name || 'lobby';
}

window.addEventListener('hashchange', () => {
  if (state.user && roomFromHash() !== state.room) openRoom(roomFromHash());
});

function renderRooms() {
  $('rooms').replaceChildren(...state.rooms.map((r) => el('button', {
    class: 'room-link' + (r.name === state.room ? ' active' : '') + (r.allowed ? '' : ' locked'),
    'data-room': r.name,
    title: r.about,
    onclick: () => { location.hash = r.name; },
  }, el('span', { class: 'hash' }, '#'), r.name, r.private ? lockIcon() : null)));
}

function lockIcon() {
  const span = el('span', { class: 'lock', title: 'private room' });
  span.innerHTML = '<svg viewBox="0 0 16 16" width="13" height="13" aria-hidden="true">'
    + '<rect x="3" y="7" width="10" height="7.5" rx="1.6" fill="currentColor"/>'
    + '<path d="M5.2 7V5.2a2.8 2.8 0 0 1 5.6 0V7" fill="none" stroke="currentColor" stroke-width="1.6"/></svg>';
  return span;
}

async function openRoom(name) {
  closeStream();
  state.room = name;
  state.messages.clear();
  state.online.clear();
  state.unread.clear();
  renderRooms();
  const info = state.rooms.find((r) => r.name === name);
  $('room-title').textContent = name;
  $('room-about').textContent = info ? info.about : '';
  $('messages').replaceChildren();
  $('refusal').hidden = true;
  $('messages').hidden = false;
  $('composer').hidden = false;
  renderOnline();
  try {
    applyRoomState(await api('GET', `/api/rooms/${encodeURIComponent(name)}`));
  } catch (e) {
    if (e.status === 401) return showLogin();
    return showRefusal(name, e.message);
  }
  openStream(name);
}

/** The app refused the room. Ask the sidecar too: it enforces the same rule on the stream. */
async function showRefusal(name, message) {
  setStatus('closed', 'no stream');
  $('messages').hidden = true;
  $('composer').hidden = true;
  const box = $('refusal');
  box.replaceChildren(el('h3', {}, lockIcon(), ` You cannot join #${name}`), el('div', {}, message));
  box.hidden = false;
  if (/^[a-z][a-z0-9_-]*$/.test(name)) {
    const sidecar = await Demo.streamRefusal(streamUrl(name), true);
    if (sidecar && state.room === name) {
      box.append(el('span', { class: 'mono' }, `The sidecar refuses the stream as well — ${sidecar}`));
    }
  }
}

function applyRoomState(room) {
  for (const m of room.messages) addMessage(m, false);
  state.online = new Set(room.online);
  renderOnline();
  const note = $('presence-note');
  note.hidden = !room.presence_error;
  note.textContent = room.presence_error ? `Presence unavailable: ${room.presence_error}` : '';
  if (!state.messages.size) {
    $('messages').replaceChildren(el('div', { class: 'empty' }, `No messages in #${room.room} yet. Say hello!`));
  }
}

// -- the stream ----------------------------------------------------------------------------------

function streamUrl(room) {
  return `${state.sse}/events?topic=chat.${room}&topic=presence.chat.${room}`;
}

function openStream(room) {
  const url = streamUrl(room);
  // withCredentials: the browser sends the app's session cookie to the sidecar (same host), and
  // the sidecar asks the app (POST /sidecar/auth) whom it belongs to.
  const es = new EventSource(url, { withCredentials: true });
  state.es = es;
  setStatus('connecting', 'connecting…');
  const mine = (handler) => (event) => { if (state.es === es) handler(JSON.parse(event.data)); };

  es.onopen = async () => {
    if (state.es !== es) return;
    setStatus('live', 'live');
    state.live = true;
    renderOnline();
    // Whatever happened before this stream opened (or while it was down) comes from the app.
    try { applyRoomState(await api('GET', `/api/rooms/${room}`)); } catch (e) { toast(e.message, 'error'); }
  };
  es.addEventListener('message', mine((m) => addMessage(m, true)));
  es.addEventListener('read', mine(onRead));
  es.addEventListener('sidecar.join', mine((p) => onPresence(p, true)));
  es.addEventListener('sidecar.leave', mine((p) => onPresence(p, false)));
  es.addEventListener('sidecar.missed', mine(async () => {
    applyRoomState(await api('GET', `/api/rooms/${room}`));
  }));
  es.onerror = async () => {
    if (state.es !== es) return;
    state.live = false;
    renderOnline();
    if (es.readyState !== EventSource.CLOSED) return setStatus('connecting', 'reconnecting…');
    // The sidecar answered with an error status: EventSource gives up. Find out why.
    setStatus('closed', 'disconnected');
    const why = await Demo.streamRefusal(url, true);
    if (state.es !== es) return;
    if (why && why.startsWith('401')) return showLogin();
    toast(`Stream closed: ${why || 'the sidecar ended it'}. Retrying in 3 s.`, 'error');
    setTimeout(() => { if (state.es === es) openStream(room); }, 3000);
  };
}

function closeStream() {
  if (state.es) state.es.close();
  state.es = null;
  state.live = false;
}

// -- messages ------------------------------------------------------------------------------------

function seq(id) { return parseInt(id.slice(1), 10); }

/** Adds or updates a message; `live` marks it as just arrived (animated). */
function addMessage(m, live) {
  if (m.room !== state.room) return;
  const known = state.messages.get(m.id);
  if (known) {
    // The publish reply and the stream event race; keep what either knows.
    if (m.delivered !== undefined) known.delivered = m.delivered;
    for (const r of m.readers || []) if (!known.readers.includes(r)) known.readers.push(r);
    return renderReceipts(known);
  }
  const message = Object.assign({ readers: [] }, m);
  state.messages.set(m.id, message);
  const list = $('messages');
  const empty = list.querySelector('.empty');
  if (empty) empty.remove();
  const node = renderMessage(message, live);
  const after = [...list.children].find((n) => seq(n.dataset.id) > seq(m.id));
  list.insertBefore(node, after || null);
  if (!after) list.scrollTop = list.scrollHeight;
  if (message.from !== state.user && !message.readers.includes(state.user)) {
    state.unread.add(message.id);
    reportRead();
  }
}

function renderMessage(m, live) {
  const mine = m.from === state.user;
  const node = el('div', { class: 'msg' + (mine ? ' mine' : '') + (live ? ' new' : ''), 'data-id': m.id },
    avatar(m.from),
    el('div', { class: 'msg-col' },
      el('div', { class: 'bubble' },
        el('div', { class: 'meta' }, el('b', {}, mine ? 'You' : m.from), Demo.time(m.time)),
        el('div', { class: 'text' }, m.text)),
      mine ? el('div', { class: 'receipts' }) : null));
  if (mine) renderReceipts(m, node);
  return node;
}

function renderReceipts(m, node) {
  node = node || document.querySelector(`.msg[data-id="${m.id}"]`);
  const box = node && node.querySelector('.receipts');
  if (!box) return;
  const parts = [];
  if (m.delivered !== undefined) {
    parts.push(el('span', { class: 'delivered' }, `✓ delivered to ${m.delivered}`));
  }
  if (m.readers.length) {
    parts.push(' · ', el('span', { class: 'read' }, `✓✓ read by ${m.readers.join(', ')}`));
  }
  box.replaceChildren(...parts);
}

function onRead(r) {
  if (r.room !== state.room) return;
  for (const id of r.ids) {
    const m = state.messages.get(id);
    if (m && !m.readers.includes(r.reader)) {
      m.readers.push(r.reader);
      renderReceipts(m);
    }
  }
}

/** Tells the app which messages this page displayed while it had the focus. */
let readTimer = null;
function reportRead() {
  if (readTimer) return;
  readTimer = setTimeout(async () => {
    readTimer = null;
    if (!state.unread.size || !document.hasFocus() || document.visibilityState !== 'visible') return;
    const ids = [...state.unread];
    state.unread.clear();
    try {
      await api('POST', `/api/rooms/${state.room}/read`, { ids });
    } catch (e) {
      toast(`Could not send read receipts: ${e.message}`, 'error');
    }
  }, 150);
}
window.addEventListener('focus', reportRead);
document.addEventListener('visibilitychange', reportRead);

$('composer').addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = $('text');
  const text = input.value.trim();
  if (!text) return;
  input.value = '';
  try {
    const reply = await api('POST', `/api/rooms/${state.room}/messages`, { text });
    addMessage(Object.assign({}, reply.message, { delivered: reply.delivered }), true);
  } catch (e) {
    input.value = text;
    toast(e.message, 'error');
  }
});

// -- presence ------------------------------------------------------------------------------------

function onPresence(p, joined) {
  if (p.topic !== `chat.${state.room}`) return;
  if (joined) state.online.add(p.subject); else state.online.delete(p.subject);
  renderOnline(joined ? p.subject : null);
}

function renderOnline(justJoined) {
  // While this page's own stream is open its user is online by definition, whether or not
  // the sidecar's snapshot or join event for it has arrived yet.
  const names = [...new Set([...state.online, ...(state.live ? [state.user] : [])])].sort();
  $('online-count').textContent = names.length;
  $('online').replaceChildren(...names.map((name) => el('li', {
    class: (name === state.user ? 'me' : '') + (name === justJoined ? ' joined' : ''),
    'data-user': name,
  }, avatar(name, true), el('span', { class: 'who' }, name), el('span', { class: 'presence' }))));
}

boot().catch((e) => toast(e.message, 'error'));
