// The client library (client/sse-api-client.js, served at /client/) in a real browser, on a
// page of its own that only subscribes and records: resuming after reloads and network
// drops with nothing lost or repeated, tickets renewed through the page's callback when the
// ticket is spent and its resume cookie gone, refusals reported and recovered from, and a
// backoff when the stream cannot open at all.
import fs from 'node:fs';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';

import {
  assert, assertEqual, newPage, randomName, root, startInstance, testConfig,
} from '../harness.mjs';

const isEvents = (url) => new URL(url).pathname.endsWith('/v1/events');

// The test page, served by the browser's request interception at the service's origin (so
// the service's cookies are its own). It subscribes as its URL says: ?topic=...&token=...
// [&minDelay=ms][&ticket=0]. Every event is appended to a log in sessionStorage in the same
// task in which the library stores its cursor, so a reload keeps both or neither.
const TEST_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>client test</title></head>
<body><main><h1>client test</h1></main>
<script type="module">
import * as lib from './client/sse-api-client.js';
const q = new URLSearchParams(location.search);
const token = q.get('token');
const count = (key) => sessionStorage.setItem(key, String(Number(sessionStorage.getItem(key) || 0) + 1));
window.__lib = lib;
window.__states = [];
window.__errors = [];
count('loads');
window.__sub = lib.subscribe(q.getAll('topic'), {
  minDelay: Number(q.get('minDelay') || 1000),
  getTicket: q.get('ticket') === '0' ? undefined : async (topics) => {
    count('tickets');
    const resp = await fetch('v1/tickets', {
      method: 'POST',
      headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' },
      body: JSON.stringify({ topics }),
    });
    const body = await resp.json();
    if (!resp.ok) throw Object.assign(new Error(body.message), { status: resp.status, code: body.code });
    sessionStorage.setItem('ticketExpires', body.expiresAt);
    return body.ticket;
  },
  onEvent: (e) => {
    const log = JSON.parse(sessionStorage.getItem('log') || '[]');
    log.push({ topic: e.topic, id: e.id, type: e.type, data: e.data });
    sessionStorage.setItem('log', JSON.stringify(log));
  },
  onState: (state, reason, d) => window.__states.push({ state, reason, delay: d.delay, status: d.error?.status, at: Date.now() }),
  onError: (e) => window.__errors.push(e),
});
</script></body></html>`;

/**
 * testPage opens the test page on svc with the given query; before(page), if given, runs
 * before the page loads (to watch its requests).
 */
async function testPage(ctx, svc, query, before) {
  const page = await newPage(ctx, ctx.browser);
  await before?.(page);
  await page.route('**/client-test.html*', (route) => route.fulfill({
    status: 200, contentType: 'text/html; charset=utf-8', body: TEST_PAGE,
  }));
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) for (const x of [v].flat()) q.append(k, String(x));
  await page.goto(`${svc.base}/client-test.html?${q}`);
  return page;
}

const state = (page) => page.evaluate(() => window.__sub?.state);
const waitState = (page, want) => page.waitForFunction((w) => window.__sub?.state === w, want);
const logged = (page) => page.evaluate(() => JSON.parse(sessionStorage.getItem('log') || '[]'));
const counted = (page, key) => page.evaluate((k) => Number(sessionStorage.getItem(k) || 0), key);

/** received waits until the page logged n events and returns them. */
async function received(page, n) {
  await page.waitForFunction((want) => JSON.parse(sessionStorage.getItem('log') || '[]').length >= want, n);
  return logged(page);
}

/**
 * checkExactlyOnce asserts that the page logged the published events, each once, in order
 * per topic, with the topic and the id publishing returned.
 */
function checkExactlyOnce(rows, published) {
  assertEqual(rows.length, published.length, 'events logged');
  for (const topic of new Set(published.map((p) => p.topic))) {
    const want = published.filter((p) => p.topic === topic);
    const got = rows.filter((r) => r.data?.topic === topic);
    assertEqual(got.map((r) => r.data.seq), want.map((p) => p.seq), `sequence numbers of ${topic}`);
    assertEqual(got.map((r) => r.topic), want.map(() => topic), `topic the library named for ${topic}'s events`);
  }
  // On a multi-topic stream the id is the cursor; the event's own id is its topic's position.
  const own = (r) => (r.id.includes('=') ? new Map(r.id.split(',').map((p) => p.split('='))).get(r.topic) : r.id);
  assertEqual(rows.map(own).sort(), published.map((p) => p.id).sort(), 'event ids (as publishing returned them)');
}

/** publisher publishes numbered events, {topic, seq}, and remembers what it published. */
function publisher(svc, token) {
  const published = [];
  let seq = 0;
  return {
    published,
    async publish(topic) {
      seq++;
      const id = await svc.publish(token, topic, { topic, seq });
      published.push({ topic, seq, id });
    },
  };
}

/**
 * cuttableLink forwards TCP connections to port, like the network between the browser and
 * the service: down() breaks every open connection and resets new ones until up().
 * (Chromium's offline emulation leaves open streams alone.)
 */
export async function cuttableLink(port) {
  const sockets = new Set();
  let isDown = false;
  const server = net.createServer((client) => {
    if (isDown) {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect({ host: '127.0.0.1', port });
    for (const [from, to] of [[client, upstream], [upstream, client]]) {
      sockets.add(from);
      from.pipe(to);
      from.on('error', () => to.destroy());
      from.on('close', () => { sockets.delete(from); to.destroy(); });
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    base: `http://127.0.0.1:${server.address().port}`,
    down() {
      isDown = true;
      for (const s of sockets) s.resetAndDestroy();
    },
    up() { isDown = false; },
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/** watchStreams lists the page's requests to /v1/events, with the time each was sent. */
function watchStreams(page) {
  const streams = [];
  page.on('request', (r) => {
    if (isEvents(r.url())) streams.push({ r, at: Date.now(), probe: r.headers().accept === 'application/json' });
  });
  return streams;
}

const reasons = (page, state) => page.evaluate((s) => window.__states.filter((x) => x.state === s).map((x) => x.reason), state);

export default [
  {
    name: 'client: served at /client/ as JavaScript, its declarations match its exports',
    slug: 'client-served',
    async run(ctx) {
      const svc = await startInstance(ctx, 'client-served', testConfig);
      const js = await fetch(`${svc.base}/client/sse-api-client.js`);
      assertEqual(js.status, 200, 'status of /client/sse-api-client.js');
      assertEqual(js.headers.get('content-type'), 'text/javascript; charset=utf-8', 'its Content-Type');
      assert(await js.text() === fs.readFileSync(path.join(root, 'client', 'sse-api-client.js'), 'utf8'),
        'the body of /client/sse-api-client.js is not the client folder\'s file');
      const dts = await fetch(`${svc.base}/client/sse-api-client.d.ts`);
      assertEqual(dts.status, 200, 'status of /client/sse-api-client.d.ts');
      assertEqual(dts.headers.get('content-type'), 'application/typescript; charset=utf-8', 'its Content-Type');
      const declared = [...(await dts.text()).matchAll(/^export declare (?:function|class|const) (\w+)/gm)].map((m) => m[1]);

      const token = await svc.token('hana', { subscribe: ['demo:*'] });
      const page = await testPage(ctx, svc, { topic: randomName('demo:bt-'), token });
      await waitState(page, 'open');
      const exported = await page.evaluate(() => Object.keys(window.__lib));
      assertEqual(exported.sort(), declared.sort(), 'names the module exports in Chromium, and the .d.ts declares');
    },
  },
  {
    name: 'client: reloads mid-stream on two topics resume with nothing lost or repeated',
    slug: 'client-reload',
    async run(ctx) {
      const svc = await startInstance(ctx, 'client-reload', testConfig);
      const [a, b] = [randomName('demo:bt-a-'), randomName('demo:bt-b-')];
      const token = await svc.token('iris', { publish: ['demo:*'], subscribe: ['demo:*'] });
      let streams;
      const page = await testPage(ctx, svc, { topic: [a, b], token }, (p) => { streams = watchStreams(p); });
      await waitState(page, 'open');
      const pub = publisher(svc, token);
      // Until its first event a page has no cursor to keep (EventSource does not show the
      // stream's opening position), so the first reload waits for one.
      await pub.publish(a);
      await received(page, 1);
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 4; i++) await pub.publish(i % 2 ? b : a);
        // Reload while events are still being published: some reach the old page before it
        // unloads, the others only the stream of the new one, which must resume.
        const reloading = page.reload();
        for (let i = 0; i < 4; i++) await pub.publish(i % 2 ? a : b);
        await reloading;
        await waitState(page, 'open');
      }
      for (let i = 0; i < 3; i++) await pub.publish(i % 2 ? b : a);
      const rows = await received(page, pub.published.length);
      checkExactlyOnce(rows, pub.published);

      assertEqual(await counted(page, 'loads'), 4, 'page loads');
      assertEqual(await counted(page, 'tickets'), 4, 'tickets asked for (one per load)');
      assertEqual(await page.evaluate(() => window.__eventSources.length), 1, 'EventSources of the last load');
      // Each load after the first opened from the cursor the one before had stored.
      assertEqual(streams.length, 4, 'event-stream requests');
      for (const { r } of streams.slice(1)) {
        const from = new URL(r.url()).searchParams.get('lastEventId') || '';
        assert(from.startsWith(`${a}=`) && from.includes(`,${b}=`), `a reloaded page opened with lastEventId=${from}`);
      }
    },
  },
  {
    name: 'client: a dropped network resumes with nothing lost or repeated',
    slug: 'client-offline',
    async run(ctx) {
      const svc = await startInstance(ctx, 'client-offline', testConfig);
      const topic = randomName('demo:bt-');
      const token = await svc.token('jack', { publish: ['demo:*'], subscribe: ['demo:*'] });
      ctx.expectedConsoleErrors.push(/ERR_CONNECTION_RESET|ERR_EMPTY_RESPONSE|Failed to load resource/);
      const link = await cuttableLink(svc.port);
      ctx.cleanups.push(link.close);
      let streams;
      const page = await testPage(ctx, { base: link.base }, { topic, token }, (p) => { streams = watchStreams(p); });
      await waitState(page, 'open');
      const pub = publisher(svc, token);
      for (let i = 0; i < 3; i++) await pub.publish(topic);
      await received(page, 3);

      // Down until a reconnect of the browser failed too: its EventSource must keep trying
      // through failed connections, and the events published meanwhile can only reach it by
      // resuming.
      let failures = 0;
      const failed = page.waitForEvent('requestfailed', { predicate: (r) => isEvents(r.url()) && ++failures === 2 });
      link.down();
      await waitState(page, 'retrying');
      for (let i = 0; i < 3; i++) await pub.publish(topic);
      await failed;
      link.up();
      await waitState(page, 'open');
      await pub.publish(topic);
      checkExactlyOnce(await received(page, 7), pub.published);

      // The browser's own reconnect did it: the same EventSource, the same URL (no
      // ?lastEventId=), so the events published while down came by its Last-Event-ID, and
      // the spent ticket in the URL by its resume cookie.
      assertEqual(await reasons(page, 'retrying'), ['network'], 'why the page was retrying');
      assertEqual(await reasons(page, 'open'), ['opened', 'reconnected'], 'opens');
      assertEqual(await page.evaluate(() => window.__eventSources.length), 1, 'EventSources made');
      assert(streams.length >= 3, `event-stream requests: ${streams.length}, want the first, a failed reconnect and more`);
      for (const { r } of streams) assertEqual(r.url(), streams[0].r.url(), 'URL of a reconnect');
      const cookie = (await streams.at(-1).r.allHeaders()).cookie || '';
      assert(/(^|; )sse_resume_[0-9a-f]{16}=/.test(cookie), `the reconnect sent no resume cookie (Cookie: ${cookie})`);
      assertEqual(await counted(page, 'tickets'), 1, 'tickets asked for');
    },
  },
  {
    name: 'client: tickets spent or expired and their resume cookies gone are renewed through the callback',
    slug: 'client-tickets',
    async run(ctx) {
      // Tickets live 1 s; resume cookies 3 s, so streams end every 1.5 s and the browser's
      // reconnect renews the cookie.
      const svc = await startInstance(ctx, 'client-tickets', (p) => testConfig({ ...p, ticketTTL: '1s', resumeTTL: '3s' }));
      const link = await cuttableLink(svc.port);
      ctx.cleanups.push(link.close);
      ctx.expectedConsoleErrors.push(/ERR_FAILED|ERR_CONNECTION_RESET|ERR_EMPTY_RESPONSE|Failed to load resource/);
      const topic = randomName('demo:bt-');
      const token = await svc.token('kate', { publish: ['demo:*'], subscribe: ['demo:*'] });
      const pub = publisher(svc, token);
      const expired = async (page, n) => {
        await page.waitForFunction((want) => window.__states.filter((x) => x.reason === 'expired').length >= want, n);
        await waitState(page, 'open');
      };

      // 1. The first stream cannot reach the service until its ticket has expired unused.
      let blocked = true;
      let streams;
      const page = await testPage(ctx, { base: link.base }, { topic, token }, async (p) => {
        streams = watchStreams(p);
        await p.route((url) => isEvents(url.href), (route) => (blocked ? route.abort('connectionrefused') : route.continue()));
      });
      await page.waitForFunction(() => window.__states.some((x) => x.reason === 'network'));
      const expires = Date.parse(await page.evaluate(() => sessionStorage.getItem('ticketExpires')));
      while (Date.now() <= expires + 100) await new Promise((r) => setTimeout(r, 50));
      blocked = false;
      await expired(page, 1);
      await pub.publish(topic);
      await received(page, 1);
      assertEqual(await counted(page, 'tickets'), 2, 'tickets after the first one expired unused');

      // 2. A stream ends (1.5 s) and the browser reconnects with its cookie: no new ticket.
      await page.waitForFunction(() => window.__states.some((x) => x.reason === 'reconnected'));
      await pub.publish(topic);
      await received(page, 2);
      assertEqual(await counted(page, 'tickets'), 2, 'tickets after a reconnect with the resume cookie');

      // 3. The cookie is gone (cleared): the next reconnect is refused 401, a new ticket
      // comes through the callback and the new stream resumes from the cursor.
      await page.context().clearCookies();
      await pub.publish(topic);
      await expired(page, 2);
      await pub.publish(topic);
      await received(page, 4);
      assertEqual(await counted(page, 'tickets'), 3, 'tickets after the cookie was cleared');

      // 4. The network is down for longer than the cookie lives: it expires, and coming back
      // takes a new ticket too.
      link.down();
      await waitState(page, 'retrying');
      const [resume] = (await page.context().cookies()).filter((c) => c.name.startsWith('sse_resume_'));
      assert(resume, 'no resume cookie before the drop');
      while (Date.now() / 1000 <= resume.expires + 0.2) await new Promise((r) => setTimeout(r, 100));
      await pub.publish(topic);
      link.up();
      await expired(page, 3);
      await pub.publish(topic);
      checkExactlyOnce(await received(page, 6), pub.published);
      assertEqual(await counted(page, 'tickets'), 4, 'tickets after the cookie expired');

      assertEqual(await page.evaluate(() => window.__errors), [], 'errors reported (renewals are none)');
      const statuses = [];
      for (const { r, probe } of streams) statuses.push(`${probe ? 'probe' : 'stream'} ${(await r.response())?.status() ?? 'failed'}`);
      for (const want of ['stream 401', 'probe 401']) assert(statuses.includes(want), `no ${want} among ${statuses}`);
      // Four tickets made four stream URLs; the last two were opened from the cursor (the
      // second came before any event).
      const firsts = new Map();
      for (const { r, probe } of streams) {
        const ticket = new URL(r.url()).searchParams.get('ticket');
        if (!probe && !firsts.has(ticket)) firsts.set(ticket, new URL(r.url()).searchParams.get('lastEventId'));
      }
      const from = [...firsts.values()];
      assertEqual(from.length, 4, 'tickets in stream URLs');
      assert(from[2] === pub.published[1].id || from[2] === pub.published[2].id, `lastEventId after the cookie was cleared: ${from[2]}`);
      assertEqual(from[3], pub.published[3].id, 'lastEventId after the cookie expired');
    },
  },
  {
    name: 'client: a refused open is reported, retried at the service\'s pace, and recovers',
    slug: 'client-refused',
    async run(ctx) {
      const svc = await startInstance(ctx, 'client-refused', (p) => testConfig({ ...p, maxStreamsPerUser: 1 }));
      const topic = randomName('demo:bt-');
      const token = await svc.token('liam', { publish: ['demo:*'], subscribe: ['demo:*'] });
      // The user's one stream, held elsewhere.
      const holder = new AbortController();
      ctx.cleanups.push(() => holder.abort());
      const held = await fetch(`${svc.base}/v1/events?topic=${encodeURIComponent(topic)}`, {
        headers: { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' }, signal: holder.signal,
      });
      assertEqual(held.status, 200, 'status of the held stream');

      let streams;
      const page = await testPage(ctx, svc, { topic, token }, (p) => { streams = watchStreams(p); });
      await page.waitForFunction(() => window.__errors.length > 0);
      const [refusal] = await page.evaluate(() => window.__errors);
      assertEqual([refusal.code, refusal.status], ['rate_limited', 429], 'the refusal reported');
      assertEqual(await state(page), 'retrying', 'state after the refusal');
      holder.abort();

      await waitState(page, 'open');
      const pub = publisher(svc, token);
      await pub.publish(topic);
      checkExactlyOnce(await received(page, 1), pub.published);
      // The browser's own retry after the service's jittered retry (Stream.RefusalRetry, 5 s
      // and up): the same EventSource, the same URL, the ticket unspent by the refusal.
      assertEqual(streams.length, 2, 'event-stream requests');
      assertEqual(streams[1].r.url(), streams[0].r.url(), 'URL of the retry');
      assert(streams[1].at - streams[0].at >= 4500, `retried after ${streams[1].at - streams[0].at} ms, sooner than the service asked`);
      assertEqual(await page.evaluate(() => window.__eventSources.length), 1, 'EventSources made');
      assertEqual(await counted(page, 'tickets'), 1, 'tickets asked for');
      assertEqual(await reasons(page, 'retrying'), ['refused'], 'why the page was retrying');
    },
  },
  {
    name: 'client: a stream that cannot open backs off (502) or stops (403)',
    slug: 'client-backoff',
    async run(ctx) {
      const svc = await startInstance(ctx, 'client-backoff', testConfig);
      ctx.expectedConsoleErrors.push(/status of (502|403)|EventSource/);
      const topic = randomName('demo:bt-');
      const token = await svc.token('mia', { publish: ['demo:*'], subscribe: ['demo:*'] });
      const minDelay = 200;
      let streams;
      let attempts = 0;
      const page = await testPage(ctx, svc, { topic, token, minDelay }, (p) => { streams = watchStreams(p); });
      await waitState(page, 'open');
      const pub = publisher(svc, token);
      await pub.publish(topic);
      await received(page, 1);

      // A proxy in front answers 502 (its upstream gone) to the next three opens and their
      // probes; the fourth open goes through.
      await page.route((url) => isEvents(url.href), (route) => {
        if (route.request().headers().accept === 'text/event-stream') attempts++;
        if (attempts <= 3) return route.fulfill({ status: 502, contentType: 'text/html', body: '<h1>502 Bad Gateway</h1>' });
        return route.continue();
      });
      await page.evaluate(() => window.__sub.reconnect());
      await pub.publish(topic);
      await page.waitForFunction(() => window.__states.filter((x) => x.reason === 'failed').length === 3);
      await waitState(page, 'open');
      await pub.publish(topic);
      checkExactlyOnce(await received(page, 3), pub.published);

      const failed = await page.evaluate(() => window.__states.filter((x) => x.reason === 'failed'));
      failed.forEach((f, i) => {
        const cap = minDelay * 2 ** i;
        assert(f.delay >= cap / 2 && f.delay <= cap, `backoff ${i + 1}: ${f.delay} ms, want ${cap / 2}..${cap}`);
        assertEqual(f.status, 502, `status of failure ${i + 1}`);
      });
      const errors = await page.evaluate(() => window.__errors);
      assertEqual(errors.map((e) => `${e.code} ${e.status}`), ['http_502 502', 'http_502 502', 'http_502 502'], 'errors reported');
      const opens = streams.filter((x) => !x.probe);
      assertEqual(opens.length, 5, 'opens: the first, three refused by the proxy, the one that went through');
      for (let i = 0; i < 3; i++) {
        const gap = opens[i + 2].at - opens[i + 1].at;
        assert(gap >= failed[i].delay, `open ${i + 3} came ${gap} ms after open ${i + 2}, before the backoff of ${failed[i].delay} ms`);
      }
      assertEqual(streams.filter((x) => x.probe).length, 3, 'probes: one per open that EventSource gave up');
      const last = new URL(opens.at(-1).r.url()).searchParams;
      assertEqual(last.get('lastEventId'), pub.published[0].id, 'lastEventId of the stream that went through');
      assertEqual(last.get('ticket'), new URL(opens[0].r.url()).searchParams.get('ticket'), 'its ticket (the first, with its cookie)');
      assertEqual(await counted(page, 'tickets'), 1, 'tickets asked for');

      // A topic the credential may not read (403): retrying cannot help, the library stops.
      let refused;
      const denied = await testPage(ctx, svc, { topic: 'other:topic', ticket: 0, minDelay: 50 }, async (p) => {
        refused = watchStreams(p);
        await p.context().addCookies([{ name: 'access_token', value: token, url: svc.base }]);
      });
      await waitState(denied, 'closed');
      assertEqual(await denied.evaluate(() => window.__errors.map((e) => `${e.code} ${e.status}`)), ['forbidden 403'], 'errors reported');
      assertEqual(await reasons(denied, 'closed'), ['refused'], 'why it closed');
      // Long enough for a few backoffs of 50 ms, had there been any.
      await denied.waitForTimeout(500);
      assertEqual(refused.map((x) => (x.probe ? 'probe' : 'open')), ['open', 'probe'], 'requests of the refused page');
    },
  },
];
