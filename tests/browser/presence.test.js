'use strict';
// Presence: the sidecar publishes sidecar.join / sidecar.leave on presence.{topic} when a
// subject's first stream on a tracked topic opens and its last one closes, and answers
// GET /presence on the admin listener. A chat page keeps its "online" list from those events.

const test = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const TOKENS = {
  alice: 'alice-stream-token-0123456789',
  bob: 'bob-stream-token-0123456789',
  carol: 'carol-stream-token-0123456789',
};

// The chat page: one stream on the room and its presence topic; the list of others online is
// the page's own DOM, updated from the events as an application would.
const LOBBY_SCRIPT = `
window.joinLobby = (url, me) => {
  const online = new Set();
  const list = document.getElementById('online');
  window.presenceEvents = [];
  const render = () => {
    list.replaceChildren(...[...online].sort().map((name) => {
      const li = document.createElement('li');
      li.textContent = name;
      return li;
    }));
  };
  const es = new EventSource(url);
  const update = (e) => {
    const data = JSON.parse(e.data);
    window.presenceEvents.push({ type: e.type, data });
    if (data.subject === me) return;
    if (e.type === 'sidecar.join') online.add(data.subject);
    else online.delete(data.subject);
    render();
  };
  es.addEventListener('sidecar.join', update);
  es.addEventListener('sidecar.leave', update);
  es.onopen = () => { document.body.dataset.connected = 'yes'; };
};
`;

const LOBBY_PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>lobby</title><script>${LOBBY_SCRIPT}</script></head>
<body><h1>chat.lobby</h1><ul id="online"></ul></body></html>
`;

const onlineList = (page) => page.$$eval('#online li', (items) => items.map((li) => li.textContent));

async function waitOnline(page, expected) {
  try {
    await page.waitForFunction(
      (want) => JSON.stringify([...document.querySelectorAll('#online li')].map((li) => li.textContent)) === want,
      JSON.stringify(expected),
      { timeout: 10000, polling: 20 },
    );
  } catch {
    assert.deepEqual(await onlineList(page), expected, 'the online list');
  }
}

async function waitPresence(sc, topic, subjects) {
  await h.waitFor(async () => {
    const answer = await sc.presence(topic);
    return JSON.stringify(answer.subjects) === JSON.stringify(subjects);
  }, { message: `GET /presence to list ${JSON.stringify(subjects)}` });
  assert.deepEqual(await sc.presence(topic), { topic, subjects });
}

test('the online list follows a second page joining and leaving', h.withScope(async (t, scope) => {
  const pages = await scope.pageServer({ '/lobby.html': LOBBY_PAGE });
  const config = {
    access: {
      public_topics: ['chat.square'],
      tokens: Object.entries(TOKENS).map(([subject, token]) => ({ token, subject, topics: ['chat.*', 'presence.chat.*'] })),
    },
    cors: { allow_origins: [pages.origin] },
    // One worker: the streams' opens and closes reach the presence table in the order they
    // happen, so a later join proves an earlier close was already counted.
    workers: 1,
    presence: { rules: [{ topics: ['chat.*'], event_topic: 'presence.{topic}', webhook: false }] },
  };
  const sc = await scope.sidecar(config);
  const closedByClient = 'sse_connections_closed_total{reason="client"}';

  // Alice's chat page.
  const alice = await scope.page();
  await alice.goto(pages.url('/lobby.html'));
  await alice.evaluate(([url, me]) => window.joinLobby(url, me),
    [sc.eventsUrl(['chat.lobby', 'presence.chat.lobby'], { access_token: TOKENS.alice }), 'alice']);
  await alice.waitForFunction(() => document.body.dataset.connected === 'yes', null, { timeout: 10000 });
  await waitPresence(sc, 'chat.lobby', ['alice']);
  assert.deepEqual(await onlineList(alice), []);

  // Bob opens the room in two tabs of his own browser: one join, while either is open.
  const bobContext = await scope.context();
  const bobTabs = [await scope.page(bobContext), await scope.page(bobContext)];
  for (const tab of bobTabs) {
    await tab.goto(pages.url());
    await h.openStream(tab, 'chat', sc.eventsUrl('chat.lobby', { access_token: TOKENS.bob }));
    await h.waitOpen(tab, 'chat');
  }
  await waitOnline(alice, ['bob']);
  await waitPresence(sc, 'chat.lobby', ['alice', 'bob']);

  // A chat message still reaches everyone in the room.
  const message = await sc.publish({ topic: 'chat.lobby', event: 'chat', data: 'hello room' });
  assert.equal(message.subscribers, 3);

  // Bob closes one tab: he is still online. Carol joining afterwards is the proof that the
  // sidecar has dealt with that close. Before her, an anonymous stream on a public room,
  // which is no one's presence.
  const closedBefore = await sc.metric(closedByClient);
  await bobTabs[0].close();
  await h.waitFor(async () => (await sc.metric(closedByClient)) > closedBefore, { message: 'the sidecar to see the tab close' });
  const carol = await scope.page();
  await carol.goto(pages.url());
  await h.openStream(carol, 'anonymous', sc.eventsUrl('chat.square'));
  await h.waitOpen(carol, 'anonymous');
  await h.openStream(carol, 'chat', sc.eventsUrl(['chat.lobby', 'chat.square'], { access_token: TOKENS.carol }));
  await h.waitOpen(carol, 'chat');
  await waitOnline(alice, ['bob', 'carol']);
  await waitPresence(sc, 'chat.lobby', ['alice', 'bob', 'carol']);
  await waitPresence(sc, 'chat.square', ['carol']);

  // And the other: he leaves.
  await bobTabs[1].close();
  await waitOnline(alice, ['carol']);
  await waitPresence(sc, 'chat.lobby', ['alice', 'carol']);

  // Exactly these changes, in this shape and order (alice's own join may come first,
  // depending on whether her stream was subscribed when it was published).
  const events = (await alice.evaluate(() => window.presenceEvents)).filter((e) => e.data.subject !== 'alice');
  assert.deepEqual(events, [
    { type: 'sidecar.join', data: { topic: 'chat.lobby', subject: 'bob' } },
    { type: 'sidecar.join', data: { topic: 'chat.lobby', subject: 'carol' } },
    { type: 'sidecar.leave', data: { topic: 'chat.lobby', subject: 'bob' } },
  ]);
}));
