/**
 * sidecar.js: the browser side of sse-sidecar. One ES module, no dependencies, no build step;
 * the sidecar serves it at /sidecar.js (CORS `*`, so any page may import it).
 *
 *   import { SidecarStream } from "https://sidecar.example/sidecar.js";
 *   const s = new SidecarStream("https://sidecar.example/events", {
 *     topics: ["chat.room1"],          // required: one or more topics (or patterns)
 *     withCredentials: false,          // send cookies (EventSource's option)
 *     token: async (topics) => fetch("/sse-token").then((r) => r.text()),  // optional
 *     share: true,                     // one connection for every tab (default)
 *     lastEventId: "",                 // resume from this id (e.g. one kept in sessionStorage)
 *     onMissed: (info) => reloadFromServer(),  // sidecar.missed: history did not cover a gap
 *   });
 *   s.addEventListener("message", (e) => console.log(e.lastEventId, e.data));
 *   const off = s.on("price", (e) => ...);   // named events; off() removes the listener
 *   s.addTopic("chat.room2"); s.removeTopic("chat.room1"); s.setTopics([...]);
 *   s.lastEventId; s.topics; s.readyState; s.leader; s.close();
 *
 * Events are MessageEvents, as EventSource's: `type`, `data`, `lastEventId`. The stream also
 * fires "open" (its connection is open) and "error" (it dropped; it comes back by itself), and
 * the sidecar's notices: "sidecar.missed", "sidecar.expired", "sidecar.revoked".
 *
 * How it works (docs/browser.md has the whole story):
 * - Sharing. Streams of one origin on the same endpoint (same URL, withCredentials and use of
 *   a token) elect a leader with the Web Locks API: the stream holding the leader lock opens
 *   the EventSources, one per distinct topic set among the streams (the same page in many
 *   tabs is one connection), and relays every event over a BroadcastChannel, tagged with its
 *   topic set. Each stream takes the events of its own set: the sidecar's frames do not say
 *   which topic an event is on, but the connection it came from does.
 * - Handover. Every stream holds a lock of its own for its life, so the leader learns when a
 *   tab is gone; when the leader itself goes, the next stream in line takes the leader lock and
 *   reopens each set from the last id relayed on it (`last_event_id`). Each stream drops
 *   events whose id is not newer than the last it delivered, so nothing arrives twice.
 * - Topics. Changing the topics reconnects the stream's set with `last_event_id` set to the
 *   last id it delivered: the place is kept (events of a new topic after that id are replayed).
 * - Tokens. With `token`, the token goes in `access_token`. The callback gets the topics and
 *   returns a string or `{token, expiresAt}` (ms since the epoch, or a Date); a JWT's `exp` is
 *   read when no expiresAt is given. Shortly before expiry the token is renewed and the stream
 *   reconnected with `last_event_id`; a `sidecar.expired` that arrives anyway renews it too.
 *   While shared, the leader's callback serves every stream.
 * - Without Web Locks or BroadcastChannel (or with share: false), each stream holds its own
 *   EventSource, with the same topic, token and missed-event handling.
 */

const NOTICES = new Set(["sidecar.missed", "sidecar.expired", "sidecar.revoked"]);
// Fired by the stream itself, not carried by the sidecar's frames.
const STATUS_TYPES = new Set(["open", "error"]);
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30000;
const RENEW_MARGIN_MAX_MS = 30000;
const RENEW_MARGIN_MIN_MS = 1000;

// Ids are "<epoch>-<seq>": ordered by epoch, then sequence. "" is before every id.
function parseId(id) {
  const m = /^(\d+)-(\d+)$/.exec(id || "");
  return m ? [Number(m[1]), Number(m[2])] : null;
}

function compareIds(a, b) {
  const x = parseId(a);
  const y = parseId(b);
  if (!x || !y) return x ? 1 : y ? -1 : 0;
  return x[0] - y[0] || x[1] - y[1];
}

function topicSetKey(topics) {
  return JSON.stringify([...new Set(topics)].sort());
}

function checkTopic(topic) {
  if (typeof topic !== "string" || topic === "") {
    throw new TypeError(`sidecar.js: a topic must be a non-empty string, not ${JSON.stringify(topic)}`);
  }
  return topic;
}

// A JWT's "exp" in ms since the epoch, or undefined when the token is not a JWT or has none.
function jwtExpiry(token) {
  const parts = token.split(".");
  if (parts.length !== 3) return undefined;
  try {
    const b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4)));
    return typeof claims.exp === "number" ? claims.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

function normalizeToken(value) {
  const token = typeof value === "string" ? value : value?.token;
  if (typeof token !== "string" || token === "") {
    throw new Error("sidecar.js: the token callback returned no token (a string or {token, expiresAt})");
  }
  let expiresAt = typeof value === "object" ? value.expiresAt : undefined;
  if (expiresAt instanceof Date) expiresAt = expiresAt.getTime();
  if (typeof expiresAt !== "number") expiresAt = jwtExpiry(token);
  return { token, expiresAt };
}

function reportError(err) {
  if (typeof globalThis.reportError === "function") globalThis.reportError(err);
  else setTimeout(() => { throw err; });
}

function randomId() {
  return globalThis.crypto?.randomUUID?.() ?? `${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

/**
 * One EventSource on one topic set, held by the leader. It remembers the last id it saw, so
 * that every reopen (topic change, token renewal, failure) resumes with last_event_id.
 */
class Connection {
  constructor(leader, key, topics, from) {
    this.leader = leader;
    this.key = key;
    this.topics = topics;
    this.lastId = from || "";
    this.es = null;
    this.attached = new Set();
    this.auth = null; // {token, expiresAt}
    this.timer = null;
    this.failures = 0;
    this.closed = false;
    this.generation = 0;
    this.onEvent = (e) => this.received(e);
    this.open(false);
  }

  async open(freshToken) {
    const generation = ++this.generation;
    this.clearTimer();
    let auth = null;
    if (this.leader.tokenFn) {
      try {
        if (freshToken || !this.auth || this.expiresSoon(this.auth)) {
          this.auth = normalizeToken(await this.leader.tokenFn([...this.topics]));
        }
        auth = this.auth;
      } catch (err) {
        if (this.closed || generation !== this.generation) return;
        reportError(err);
        this.leader.status(this.key, "error");
        return this.retryLater();
      }
      // Closed, restarted or renewed while the callback ran: that other open wins.
      if (this.closed || generation !== this.generation) return;
    }
    const url = new URL(this.leader.endpoint);
    for (const topic of this.topics) url.searchParams.append("topic", topic);
    if (this.lastId) url.searchParams.set("last_event_id", this.lastId);
    if (auth) url.searchParams.set("access_token", auth.token);
    const es = new EventSource(url, { withCredentials: this.leader.withCredentials });
    this.es = es;
    this.attached = new Set();
    for (const type of this.leader.types) this.attach(type);
    es.onopen = () => {
      this.failures = 0;
      this.leader.status(this.key, "open");
    };
    es.onerror = () => {
      if (this.es !== es) return;
      this.leader.status(this.key, "error");
      if (es.readyState === EventSource.CLOSED) {
        // The browser gave up (an HTTP error: 401 with a stale token, 503 over capacity...):
        // try again later, with a new token.
        es.close();
        this.retryLater();
      } else if (auth && auth.expiresAt !== undefined && Date.now() >= auth.expiresAt) {
        // The browser is about to reconnect with the expired token: renew first.
        this.reopen(true);
      }
    };
    if (auth && auth.expiresAt !== undefined) {
      const lifetime = auth.expiresAt - Date.now();
      const margin = Math.min(RENEW_MARGIN_MAX_MS, Math.max(RENEW_MARGIN_MIN_MS, lifetime / 5));
      this.timer = setTimeout(() => this.reopen(true), Math.max(lifetime - margin, RENEW_MARGIN_MIN_MS));
    }
  }

  expiresSoon(auth) {
    return auth.expiresAt !== undefined && auth.expiresAt - Date.now() < RENEW_MARGIN_MIN_MS;
  }

  attach(type) {
    if (!this.es || this.attached.has(type)) return;
    this.attached.add(type);
    this.es.addEventListener(type, this.onEvent);
  }

  received(e) {
    if (e.target !== this.es) return;
    // Notices without an id repeat the previous one: they never move the place.
    if (e.lastEventId && e.type !== "sidecar.expired" && e.type !== "sidecar.revoked") {
      this.lastId = e.lastEventId;
    }
    this.leader.relay(this.key, e.type, e.data, e.lastEventId);
    if (e.type === "sidecar.expired" && this.leader.tokenFn) this.reopen(true);
  }

  retryLater() {
    if (this.closed) return;
    this.clearTimer();
    const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** this.failures++);
    this.timer = setTimeout(() => this.open(true), delay);
  }

  // Reconnects from the last id seen (or `from`), with a new token when asked.
  reopen(freshToken, from) {
    if (this.closed) return;
    if (from !== undefined) this.lastId = from;
    this.dropSource();
    this.open(freshToken);
  }

  dropSource() {
    if (this.es) {
      this.es.onerror = null;
      this.es.close();
      this.es = null;
    }
  }

  clearTimer() {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  close() {
    this.closed = true;
    this.clearTimer();
    this.dropSource();
  }
}

/**
 * The leader's side: the streams it serves (members: id -> {id, topics, key, types, at}) and a
 * Connection per distinct topic set among them. `post` sends a message to every stream,
 * the leader's own included.
 */
class Leader {
  constructor({ endpoint, withCredentials, tokenFn, post }) {
    Object.assign(this, { endpoint, withCredentials, tokenFn, post });
    this.members = new Map();
    this.conns = new Map();
    this.types = new Set();
    this.opened = new Set(); // keys whose connection is open
  }

  // Takes over `members`; `lastBySet` holds the last id relayed on each set, which the
  // connections reopen from.
  start(members, lastBySet) {
    for (const m of members.values()) this.members.set(m.id, m);
    this.collectTypes();
    for (const [key, group] of this.groups()) {
      // Nothing relayed on the set that this stream saw: the oldest place among its streams.
      // A stream that moved to the set just before (its previous leader may not have served
      // it yet) goes back to its own place too. An older place costs a replay, which every
      // stream drops as already delivered; a newer one would lose events.
      const relayed = lastBySet.get(key);
      const places = group
        .filter((m) => relayed === undefined || m.moved)
        .map((m) => m.at)
        .filter(Boolean);
      if (relayed) places.push(relayed);
      places.sort(compareIds);
      this.openSet(key, group[0].topics, places[0] || "");
    }
  }

  groups() {
    const byKey = new Map();
    for (const m of this.members.values()) {
      if (!byKey.has(m.key)) byKey.set(m.key, []);
      byKey.get(m.key).push(m);
    }
    return byKey;
  }

  collectTypes() {
    for (const m of this.members.values()) for (const type of m.types) this.types.add(type);
    for (const conn of this.conns.values()) for (const type of this.types) conn.attach(type);
  }

  openSet(key, topics, from) {
    this.post({ t: "pos", key, at: from });
    this.conns.set(key, new Connection(this, key, topics, from));
  }

  // A stream announced itself or changed. `fresh`: it is new here or its topic set changed,
  // so its set must be served from its place (`at`) on.
  update(m, fresh) {
    fresh = fresh || !this.members.has(m.id);
    this.members.set(m.id, m);
    this.collectTypes();
    if (fresh) {
      const conn = this.conns.get(m.key);
      if (!conn) {
        this.openSet(m.key, m.topics, m.at);
      } else {
        // Behind the connection (or the connection has seen nothing yet): replay from its place.
        if (m.at && (!conn.lastId || compareIds(m.at, conn.lastId) < 0)) {
          this.post({ t: "pos", key: m.key, at: m.at });
          conn.reopen(false, m.at);
        } else if (this.opened.has(m.key)) {
          this.post({ t: "status", key: m.key, s: "open", to: m.id });
        }
      }
    }
    this.closeUnused();
  }

  remove(id) {
    if (this.members.delete(id)) this.closeUnused();
  }

  closeUnused() {
    const wanted = new Set([...this.members.values()].map((m) => m.key));
    for (const [key, conn] of this.conns) {
      if (wanted.has(key)) continue;
      conn.close();
      this.conns.delete(key);
      this.opened.delete(key);
    }
  }

  relay(key, type, data, id) {
    this.post({ t: "ev", key, type, data, id });
  }

  status(key, s) {
    if (s === "open") this.opened.add(key);
    else this.opened.delete(key);
    this.post({ t: "status", key, s });
  }

  close() {
    for (const conn of this.conns.values()) conn.close();
    this.conns.clear();
  }
}

export class SidecarStream extends EventTarget {
  #endpoint;
  #origin;
  #withCredentials;
  #tokenFn;
  #onMissed;
  #id = randomId();
  #topics;
  #key;
  #types = new Set(["message", ...NOTICES]);
  #lastId;
  #readyState = 0;
  #closed = false;
  #joined = false; // shared: its hello was sent (the lock it holds for its life is held)
  #shared;
  #names = null; // lock and channel names when shared
  #channel = null;
  #leader = null; // a Leader while this stream leads
  #registry = new Map(); // every stream seen on the channel, this one included
  #lastBySet = new Map(); // the last id relayed on each topic set
  #abort = new AbortController(); // pending lock requests
  #releaseTab = null;
  #resign = null;
  #watches = new Map(); // member id -> AbortController of the wait for its lock

  /**
   * @param {string|URL} url  the sidecar's stream endpoint, e.g. https://sidecar.example/events
   * @param {object} options  topics (required), withCredentials, token, share, lastEventId, onMissed
   */
  constructor(url, options = {}) {
    super();
    const base = globalThis.location?.href;
    const endpoint = new URL(url, base);
    this.#endpoint = endpoint.href;
    this.#origin = endpoint.origin;
    const topics = options.topics;
    if (!Array.isArray(topics) || topics.length === 0) {
      throw new TypeError('sidecar.js: options.topics must list at least one topic, e.g. {topics: ["public.demo"]}');
    }
    if (options.token !== undefined && typeof options.token !== "function") {
      throw new TypeError("sidecar.js: options.token must be a function returning a token (or a promise of one)");
    }
    if (options.onMissed !== undefined && typeof options.onMissed !== "function") {
      throw new TypeError("sidecar.js: options.onMissed must be a function");
    }
    this.#topics = [...new Set(topics.map(checkTopic))];
    this.#key = topicSetKey(this.#topics);
    this.#withCredentials = Boolean(options.withCredentials);
    this.#tokenFn = options.token ?? null;
    this.#onMissed = options.onMissed ?? null;
    this.#lastId = typeof options.lastEventId === "string" ? options.lastEventId : "";
    this.#shared =
      options.share !== false &&
      typeof BroadcastChannel === "function" &&
      typeof globalThis.navigator?.locks?.request === "function";
    this.#registry.set(this.#id, this.#member());
    if (this.#shared) this.#join();
    else this.#lead();
  }

  /** The topics this stream delivers. */
  get topics() {
    return [...this.#topics];
  }

  /** The id of the last event delivered: where this stream resumes. */
  get lastEventId() {
    return this.#lastId;
  }

  /** 0 connecting, 1 open, 2 closed (as EventSource). */
  get readyState() {
    return this.#readyState;
  }

  /** Whether this stream holds the connections (always, when not shared). */
  get leader() {
    return this.#leader !== null;
  }

  /** Whether this stream shares its connection with other tabs. */
  get shared() {
    return this.#shared;
  }

  addEventListener(type, listener, options) {
    super.addEventListener(type, listener, options);
    if (!STATUS_TYPES.has(type) && !this.#types.has(type)) {
      this.#types.add(type);
      this.#announce(false);
    }
  }

  /** addEventListener(type, listener); returns a function that removes it. */
  on(type, listener) {
    this.addEventListener(type, listener);
    return () => this.removeEventListener(type, listener);
  }

  addTopic(topic) {
    this.setTopics([...this.#topics, checkTopic(topic)]);
  }

  removeTopic(topic) {
    this.setTopics(this.#topics.filter((t) => t !== topic));
  }

  /** Replaces the topics; the stream goes on from its last event, nothing lost or repeated. */
  setTopics(topics) {
    if (this.#closed) return;
    if (!Array.isArray(topics) || topics.length === 0) {
      throw new TypeError("sidecar.js: a stream needs at least one topic; close() it instead");
    }
    const next = [...new Set(topics.map(checkTopic))];
    const key = topicSetKey(next);
    if (key === this.#key) return;
    this.#topics = next;
    this.#key = key;
    this.#readyState = 0;
    this.#announce(true);
  }

  close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#readyState = 2;
    this.#leader?.close();
    this.#leader = null;
    for (const watch of this.#watches.values()) watch.abort();
    this.#abort.abort();
    this.#resign?.();
    if (this.#channel) {
      this.#channel.postMessage({ t: "gone", id: this.#id });
      this.#channel.close();
    }
    this.#releaseTab?.();
  }

  #member() {
    return { id: this.#id, topics: [...this.#topics], key: this.#key, types: [...this.#types], at: this.#lastId };
  }

  // Tells the leader (this stream, or the others over the channel) what it wants now.
  #announce(fresh) {
    if (this.#closed) return;
    const m = this.#member();
    this.#registry.set(this.#id, m);
    this.#leader?.update(m, fresh);
    // Before its hello nobody may know of it yet (the hello will carry what it wants then).
    if (this.#joined) this.#channel.postMessage({ t: "state", m, fresh });
  }

  #join() {
    const names = `sidecar.js ${this.#endpoint} credentials=${this.#withCredentials} token=${Boolean(this.#tokenFn)}`;
    this.#names = { channel: names, leader: `${names} leader`, tab: (id) => `${names} stream ${id}` };
    this.#channel = new BroadcastChannel(names);
    this.#channel.onmessage = (e) => this.#receive(e.data);
    const signal = this.#abort.signal;
    // Held for this stream's life: the leader waits on it to learn that this stream is gone.
    navigator.locks
      .request(this.#names.tab(this.#id), { signal }, () => {
        if (this.#closed) return undefined;
        // Only once the lock is held: a leader that sees this hello may wait on it.
        this.#joined = true;
        this.#channel.postMessage({ t: "hello", m: this.#member() });
        navigator.locks
          .request(this.#names.leader, { signal }, () => (this.#closed ? undefined : this.#lead()))
          .catch(() => {});
        return new Promise((resolve) => {
          this.#releaseTab = resolve;
        });
      })
      .catch(() => {});
  }

  // Becomes the leader (or, not shared, the holder of its own connection). Resolves when it
  // stops leading, which releases the leader lock.
  async #lead() {
    if (this.#shared) {
      // Streams that went away without a word (a crashed tab) no longer hold their lock. Only
      // those known before the query: one that said hello meanwhile may have taken its lock
      // after the query looked.
      const known = [...this.#registry.keys()];
      const held = new Set((await navigator.locks.query()).held.map((l) => l.name));
      for (const id of known) {
        if (id !== this.#id && !held.has(this.#names.tab(id))) this.#registry.delete(id);
      }
      if (this.#closed) return undefined;
    }
    const leader = new Leader({
      endpoint: this.#endpoint,
      withCredentials: this.#withCredentials,
      tokenFn: this.#tokenFn,
      post: (msg) => {
        this.#channel?.postMessage(msg);
        this.#receive(msg);
      },
    });
    this.#leader = leader;
    leader.start(this.#registry, this.#lastBySet);
    for (const id of this.#registry.keys()) this.#watch(id);
    if (!this.#shared) return undefined;
    return new Promise((resolve) => {
      this.#resign = resolve;
    });
  }

  // While leading: waits for the lock of stream `id`, granted once that stream is gone.
  #watch(id) {
    if (!this.#shared || !this.#leader || id === this.#id || this.#watches.has(id)) return;
    const watch = new AbortController();
    this.#watches.set(id, watch);
    navigator.locks
      .request(this.#names.tab(id), { signal: watch.signal }, () => {
        this.#watches.delete(id);
        if (this.#closed) return;
        this.#forget(id);
        this.#channel.postMessage({ t: "gone", id });
      })
      .catch(() => {});
  }

  #forget(id) {
    this.#registry.delete(id);
    this.#leader?.remove(id);
    this.#watches.get(id)?.abort();
    this.#watches.delete(id);
  }

  #receive(msg) {
    if (this.#closed || !msg || typeof msg !== "object") return;
    switch (msg.t) {
      case "hello":
        this.#registry.set(msg.m.id, { ...msg.m, moved: true });
        this.#leader?.update(msg.m, true);
        this.#watch(msg.m.id);
        // The newcomer learns who is there, should it lead one day.
        this.#channel.postMessage({ t: "state", m: this.#member(), fresh: false });
        break;
      case "state": {
        // `moved`: it asked to be served from its place, and no leader has said it did yet.
        const before = this.#registry.get(msg.m.id);
        const moved = msg.fresh || (before?.moved && before.key === msg.m.key);
        this.#registry.set(msg.m.id, { ...msg.m, moved });
        this.#leader?.update(msg.m, msg.fresh);
        this.#watch(msg.m.id);
        break;
      }
      case "gone":
        this.#forget(msg.id);
        break;
      case "pos":
        // A leader (re)opened the set from `at`: the streams that moved to it are served.
        if (msg.at) this.#lastBySet.set(msg.key, msg.at);
        else this.#lastBySet.delete(msg.key);
        for (const [id, m] of this.#registry) {
          if (m.moved && m.key === msg.key) this.#registry.set(id, { ...m, moved: false });
        }
        break;
      case "status":
        if (msg.key !== this.#key || (msg.to && msg.to !== this.#id)) break;
        this.#readyState = msg.s === "open" ? 1 : 0;
        this.dispatchEvent(new Event(msg.s));
        break;
      case "ev":
        if (msg.id && msg.type !== "sidecar.expired" && msg.type !== "sidecar.revoked") {
          this.#lastBySet.set(msg.key, msg.id);
        }
        if (msg.key === this.#key) this.#deliver(msg);
        break;
      default:
        break;
    }
  }

  #deliver({ type, data, id }) {
    if (!NOTICES.has(type) && id && this.#lastId && compareIds(id, this.#lastId) <= 0) return;  // had it
    if (id && type !== "sidecar.expired" && type !== "sidecar.revoked") this.#lastId = id;
    this.dispatchEvent(new MessageEvent(type, { data, lastEventId: id, origin: this.#origin }));
    if (type === "sidecar.missed" && this.#onMissed) {
      let info;
      try {
        info = JSON.parse(data);
      } catch {
        info = { raw: data };
      }
      try {
        this.#onMissed(info);
      } catch (err) {
        reportError(err);
      }
    }
  }
}

export default SidecarStream;
