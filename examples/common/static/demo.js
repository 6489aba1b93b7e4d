/* Helpers shared by the example pages: the app's JSON API, DOM building, the stream status
   pill and toasts. Plain browser JavaScript, no dependencies. */
'use strict';

const Demo = (() => {
  /** Calls the app's JSON API; throws an Error carrying the app's message and status. */
  async function api(method, path, body) {
    const options = { method, headers: {} };
    if (body !== undefined) {
      options.headers['Content-Type'] = 'application/json';
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, options);
    } catch (e) {
      throw Object.assign(new Error('the app is not reachable'), { status: 0 });
    }
    let value = null;
    try { value = await response.json(); } catch (e) { /* not JSON */ }
    if (!response.ok) {
      const message = (value && value.error) || `${response.status} ${response.statusText}`;
      throw Object.assign(new Error(message), { status: response.status, body: value });
    }
    return value;
  }

  /** el('div', {class: 'x', onclick: f}, 'text', child, ...) */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else if (key === 'dataset') Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? '' : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const palette = ['#4f46e5', '#0891b2', '#db2777', '#ea580c', '#16a34a', '#7c3aed', '#0d9488',
    '#c026d3', '#2563eb', '#ca8a04'];
  function colorOf(name) {
    let h = 0;
    for (const c of name) h = (h * 31 + c.charCodeAt(0)) >>> 0;
    return palette[h % palette.length];
  }
  function avatar(name, small) {
    const a = el('span', { class: small ? 'avatar small' : 'avatar', title: name }, name[0] || '?');
    a.style.background = colorOf(name);
    return a;
  }

  /** The pill in the top bar: 'connecting', 'live' or 'closed', with a label. */
  function setStatus(state, label) {
    const pill = document.getElementById('stream-status');
    if (!pill) return;
    pill.className = 'pill ' + state;
    pill.dataset.state = state;
    pill.querySelector('.label').textContent = label;
  }

  function toast(message, kind) {
    let box = document.querySelector('.toasts');
    if (!box) document.body.append(box = el('div', { class: 'toasts' }));
    const t = el('div', { class: 'toast ' + (kind || '') }, message);
    box.append(t);
    setTimeout(() => t.remove(), 5000);
  }

  function time(ms) {
    return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hour12: false });
  }

  /** Why the sidecar refuses a stream URL: its status and one-line reason, read with fetch
      (EventSource only ever reports "error"). Null when it would be accepted. */
  async function streamRefusal(url, withCredentials) {
    const controller = new AbortController();
    try {
      const response = await fetch(url, {
        credentials: withCredentials ? 'include' : 'omit', signal: controller.signal,
      });
      if (response.ok) return null;
      return `${response.status}: ${(await response.text()).trim()}`;
    } catch (e) {
      return 'the sidecar is not reachable';
    } finally {
      controller.abort();
    }
  }

  /** The sign-in flow of the demos with users: the login form, the logout button, and which of
      the login view and the page's own `view` shows. `enter(reply)` gets the app's reply to
      /api/me or /api/login; `leave()` closes the page's stream. */
  function signIn({ view, enter, leave }) {
    const $ = (id) => document.getElementById(id);
    function showLogin() {
      leave();
      for (const id of [view, 'user-chip', 'stream-status']) $(id).hidden = true;
      $('login-view').hidden = false;
      $('login-name').focus();
    }
    $('login-form').addEventListener('submit', async (event) => {
      event.preventDefault();
      $('login-error').textContent = '';
      try {
        enter(await api('POST', '/api/login', { name: $('login-name').value }));
      } catch (e) {
        $('login-error').textContent = e.message;
      }
    });
    $('logout').addEventListener('click', async () => {
      leave();
      await api('POST', '/api/logout').catch(() => {});
      showLogin();
    });
    /** Enters as the signed-in user, or shows the login form. */
    async function start() {
      try {
        enter(await api('GET', '/api/me'));
      } catch (e) {
        if (e.status !== 401) toast(e.message, 'error');
        showLogin();
      }
    }
    return { showLogin, start };
  }

  return { api, el, avatar, colorOf, setStatus, toast, time, streamRefusal, signIn };
})();
