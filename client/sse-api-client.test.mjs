// Tests of sse-api-client.js in Node, with a stand-in EventSource, fetch and sessionStorage:
// `node --test client/`. The real browser and service are exercised by
// browsertest/scenarios/client.mjs.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { afterEach, beforeEach, test } from 'node:test';

// FakeEventSource records what the library asks of EventSource and lets a test play the
// browser's part: open, deliver events, fail.
class FakeEventSource extends EventTarget {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSED = 2;
  static made = [];

  constructor(url, init = {}) {
    super();
    this.url = url;
    this.withCredentials = Boolean(init.withCredentials);
    this.readyState = FakeEventSource.CONNECTING;
    FakeEventSource.made.push(this);
  }

  close() { this.readyState = FakeEventSource.CLOSED; }

  open() {
    this.readyState = FakeEventSource.OPEN;
    this.dispatchEvent(new Event('open'));
  }

  // event delivers a MessageEvent as EventSource does: the id is the stream's last id.
  event(type, data, lastEventId) {
    const ev = new Event(type);
    Object.assign(ev, { data: typeof data === 'string' ? data : JSON.stringify(data), lastEventId });
    this.dispatchEvent(ev);
  }

  // fail is a connection error: with retry the browser reconnects by itself, without it
  // (an answer but 200) EventSource gives up.
  fail({ retry }) {
    this.readyState = retry ? FakeEventSource.CONNECTING : FakeEventSource.CLOSED;
    this.dispatchEvent(new Event('error'));
  }
}

const storage = new Map();
let probes; // the fetches the library made, and what they are answered
let answer;

beforeEach(() => {
  FakeEventSource.made = [];
  storage.clear();
  probes = [];
  answer = () => new Response('{"code":"unauthorized","message":"missing or invalid credentials"}', { status: 401 });
  globalThis.EventSource = FakeEventSource;
  globalThis.sessionStorage = {
    getItem: (k) => (storage.has(k) ? storage.get(k) : null),
    setItem: (k, v) => storage.set(k, String(v)),
  };
  globalThis.fetch = async (url, init) => {
    probes.push({ url, init });
    return answer(url, init);
  };
});

const subs = [];
afterEach(() => {
  while (subs.length) subs.pop().close();
});

const { subscribe, topicOf } = await import('./sse-api-client.js');

// start subscribes and records every callback in order.
function start(topics, options = {}) {
  const log = { events: [], resets: [], states: [], errors: [], tickets: 0 };
  const sub = subscribe(topics, {
    onEvent: (e) => log.events.push(e),
    onReset: (r) => log.resets.push(r),
    onState: (state, reason, detail) => log.states.push({ state, reason, ...detail }),
    onError: (e) => log.errors.push(e),
    ...options,
  });
  subs.push(sub);
  return { sub, log };
}

// until waits for cond, polling, up to a deadline.
async function until(cond, what, ms = 2000) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const latest = () => FakeEventSource.made.at(-1);
const query = (es) => new URL(es.url, 'http://service.test/').searchParams;
const ticketCounter = (log) => async () => `T${++log.tickets}`;

test('the declarations name exactly what the module exports', async () => {
  const mod = await import('./sse-api-client.js');
  const dts = fs.readFileSync(new URL('./sse-api-client.d.ts', import.meta.url), 'utf8');
  const declared = [...dts.matchAll(/^export declare (?:function|class|const) (\w+)/gm)].map((m) => m[1]);
  assert.deepEqual(declared.sort(), Object.keys(mod).sort());
});

test('the package publishes the module and its declarations', () => {
  const pkg = JSON.parse(fs.readFileSync(new URL('./package.json', import.meta.url), 'utf8'));
  assert.equal(pkg.type, 'module');
  assert.equal(pkg.exports['.'].default, './sse-api-client.js');
  assert.equal(pkg.exports['.'].types, './sse-api-client.d.ts');
  assert.equal(pkg.dependencies, undefined);
  for (const f of ['sse-api-client.js', 'sse-api-client.d.ts']) assert.ok(pkg.files.includes(f), f);
});

test('a ticket stream: URL, events with their topics, the cursor stored', async () => {
  let asked;
  const { sub, log } = start(['news:1', 'news:2'], { getTicket: async (topics) => { asked = topics; return 'T1'; } });
  await until(() => latest(), 'an EventSource');
  const es = latest();
  assert.deepEqual(asked, ['news:1', 'news:2']);
  assert.equal(es.url, 'v1/events?topic=news%3A1&topic=news%3A2&ticket=T1');
  assert.equal(es.withCredentials, false);
  es.open();
  es.event('message', { n: 1 }, 'news:1=5-0,news:2=3-0');
  es.event('note', { n: 2 }, 'news:1=5-0,news:2=6-0'); // not listened for
  es.event('message', 'not json', 'news:1=5-0,news:2=7-0');
  assert.deepEqual(log.events.map((e) => [e.topic, e.id, e.type, e.data]), [
    ['news:1', 'news:1=5-0,news:2=3-0', 'message', { n: 1 }],
    ['news:2', 'news:1=5-0,news:2=7-0', 'message', 'not json'],
  ]);
  assert.equal(sub.lastEventId, 'news:1=5-0,news:2=7-0');
  assert.equal(storage.get('sse-api-client:v1/events?news:1,news:2'), 'news:1=5-0,news:2=7-0');
  assert.deepEqual(log.states.map((s) => `${s.state}/${s.reason}`), ['connecting/start', 'open/opened']);
});

test('listen adds an event name, also to the open EventSource', async () => {
  const { sub, log } = start(['a'], { events: ['one'] });
  await until(() => latest(), 'an EventSource');
  sub.listen('two');
  latest().event('one', 1, '1-0');
  latest().event('two', 2, '2-0');
  assert.deepEqual(log.events.map((e) => [e.topic, e.type, e.data]), [['a', 'one', 1], ['a', 'two', 2]]);
});

test('a reloaded page resumes from the stored cursor', async () => {
  storage.set('sse-api-client:v1/events?a,b', 'a=1-0,b=2-0');
  start(['b', 'a']);
  await until(() => latest(), 'an EventSource');
  assert.equal(query(latest()).get('lastEventId'), 'a=1-0,b=2-0');
});

test('base and route make the URL; storageKey null keeps nothing', async () => {
  start(['x'], { base: 'https://api.example.com/sse', route: '/v1/me/events', storageKey: null });
  await until(() => latest(), 'an EventSource');
  latest().event('message', 1, '9-0');
  assert.equal(latest().url, 'https://api.example.com/sse/v1/me/events?topic=x');
  assert.equal(storage.size, 0);
});

test('a reset goes to onReset and moves the cursor', async () => {
  const { sub, log } = start(['a', 'b']);
  await until(() => latest(), 'an EventSource');
  latest().event('reset', { topic: 'a', reason: 'history_trimmed', lastEventId: '1-0' }, 'a=5-0,b=2-0');
  assert.deepEqual(log.resets, [{ topic: 'a', reason: 'history_trimmed', lastEventId: '1-0', id: 'a=5-0,b=2-0' }]);
  assert.equal(sub.lastEventId, 'a=5-0,b=2-0');
});

test("a refusal is reported; the browser's own retry follows, the URL unchanged", async () => {
  const { log } = start(['a']);
  await until(() => latest(), 'an EventSource');
  const es = latest();
  es.open();
  es.event('error', { code: 'rate_limited', message: 'too many streams', status: 429 }, '');
  es.fail({ retry: true });
  assert.deepEqual(log.errors, [{ code: 'rate_limited', message: 'too many streams', status: 429 }]);
  assert.deepEqual(log.states.map((s) => `${s.state}/${s.reason}`), ['connecting/start', 'open/opened', 'retrying/refused']);
  es.open();
  assert.equal(log.states.at(-1).reason, 'reconnected');
  assert.equal(FakeEventSource.made.length, 1);
  assert.equal(probes.length, 0);
});

test('a dropped connection is left to the browser, and said once', async () => {
  const { log } = start(['a']);
  await until(() => latest(), 'an EventSource');
  latest().open();
  latest().fail({ retry: true });
  latest().fail({ retry: true }); // a reconnect that failed too
  assert.deepEqual(log.states.map((s) => `${s.state}/${s.reason}`), ['connecting/start', 'open/opened', 'retrying/network']);
  assert.equal(FakeEventSource.made.length, 1);
  assert.equal(probes.length, 0);
});

test('a spent ticket without its cookie (401) gets a new ticket and resumes from the cursor', async () => {
  const counts = { tickets: 0 };
  const { log } = start(['a', 'b'], { getTicket: ticketCounter(counts) });
  await until(() => latest(), 'an EventSource');
  latest().open();
  latest().event('message', 1, 'a=1-0,b=0-0');
  latest().fail({ retry: false });
  await until(() => FakeEventSource.made.length === 2, 'a second EventSource');
  assert.equal(probes.length, 1);
  assert.equal(probes[0].url, 'v1/events?topic=a&topic=b&ticket=T1');
  assert.equal(probes[0].init.headers.Accept, 'application/json');
  const q = query(latest());
  assert.equal(q.get('ticket'), 'T2');
  assert.equal(q.get('lastEventId'), 'a=1-0,b=0-0');
  assert.ok(log.states.some((s) => s.state === 'retrying' && s.reason === 'expired' && s.delay === 0));
  assert.equal(log.errors.length, 0);
  assert.equal(counts.tickets, 2);
});

test('new tickets that keep being refused (401) are asked for after a growing backoff', async () => {
  const counts = { tickets: 0 };
  const { log } = start(['a'], { getTicket: ticketCounter(counts), minDelay: 20, maxDelay: 1000 });
  for (let i = 1; i <= 3; i++) {
    await until(() => FakeEventSource.made.length === i, `EventSource ${i}`);
    latest().fail({ retry: false });
    await until(() => log.states.filter((s) => s.reason === 'expired').length === i, `renewal ${i}`);
  }
  const delays = log.states.filter((s) => s.reason === 'expired').map((s) => s.delay);
  assert.equal(delays[0], 0);
  assert.ok(delays[1] >= 10 && delays[1] <= 20, `second renewal after ${delays[1]} ms`);
  assert.ok(delays[2] >= 20 && delays[2] <= 40, `third renewal after ${delays[2]} ms`);
  await until(() => counts.tickets === 4, 'the fourth ticket');
});

test('forbidden (403) stops for good', async () => {
  answer = () => new Response('{"code":"forbidden","message":"not allowed to subscribe to a"}', { status: 403 });
  const { sub, log } = start(['a'], { minDelay: 5 });
  await until(() => latest(), 'an EventSource');
  latest().fail({ retry: false });
  await until(() => sub.state === 'closed', 'closed');
  assert.deepEqual(log.errors, [{ code: 'forbidden', message: 'not allowed to subscribe to a', status: 403 }]);
  assert.equal(log.states.at(-1).reason, 'refused');
  assert.equal(FakeEventSource.made.length, 1);
});

test('401 without a ticket callback stops too', async () => {
  const { sub } = start(['a']);
  await until(() => latest(), 'an EventSource');
  latest().fail({ retry: false });
  await until(() => sub.state === 'closed', 'closed');
});

test('passing failures back off, doubling, with jitter, until a stream opens', async () => {
  answer = () => new Response('<html>bad gateway</html>', { status: 502 });
  const { log } = start(['a'], { minDelay: 20, maxDelay: 70 });
  const delays = [];
  for (let i = 1; i <= 4; i++) {
    await until(() => FakeEventSource.made.length === i, `EventSource ${i}`);
    latest().fail({ retry: false });
    await until(() => log.states.filter((s) => s.reason === 'failed').length === i, `failure ${i}`);
    delays.push(log.states.at(-1).delay);
  }
  const caps = [20, 40, 70, 70];
  delays.forEach((d, i) => assert.ok(d >= caps[i] / 2 && d <= caps[i], `delay ${i + 1}: ${d} not in [${caps[i] / 2}, ${caps[i]}]`));
  assert.deepEqual(log.errors.at(-1), { code: 'http_502', message: 'HTTP 502', status: 502 });
  await until(() => FakeEventSource.made.length === 5, 'EventSource 5');
  assert.equal(log.states.at(-1).reason, 'reopen');
});

test('a network error on the probe is a passing failure', async () => {
  answer = () => { throw new TypeError('Failed to fetch'); };
  const { log } = start(['a'], { minDelay: 5 });
  await until(() => latest(), 'an EventSource');
  latest().fail({ retry: false });
  await until(() => FakeEventSource.made.length === 2, 'a reopen');
  assert.deepEqual(log.errors, [{ code: 'network', message: 'Failed to fetch', status: 0 }]);
});

test('a getTicket failure with a 4xx status stops; others are retried', async () => {
  const forbidden = Object.assign(new Error('not allowed'), { status: 403, code: 'forbidden' });
  const a = start(['a'], { getTicket: async () => { throw forbidden; } });
  await until(() => a.sub.state === 'closed', 'closed');
  assert.equal(FakeEventSource.made.length, 0);

  let calls = 0;
  const b = start(['b'], {
    minDelay: 5,
    getTicket: async () => {
      if (++calls === 1) throw new TypeError('Failed to fetch');
      return 'T';
    },
  });
  await until(() => FakeEventSource.made.length === 1, 'an EventSource after the retry');
  assert.equal(b.log.errors[0].status, 0);
});

test('reconnect opens a new EventSource with the same ticket and the cursor', async () => {
  const { sub, log } = start(['a'], { getTicket: ticketCounter({ tickets: 0 }) });
  await until(() => latest(), 'an EventSource');
  const first = latest();
  first.open();
  first.event('message', 1, '7-0');
  sub.reconnect(5);
  assert.equal(first.readyState, FakeEventSource.CLOSED);
  assert.equal(log.states.at(-1).reason, 'reconnect');
  await until(() => FakeEventSource.made.length === 2, 'the reopened EventSource');
  assert.equal(latest().url, 'v1/events?topic=a&ticket=T1&lastEventId=7-0');
  first.event('message', 2, '8-0'); // a late event of the dropped one
  assert.equal(log.events.length, 1);
});

test('close ends it, and a late answer starts nothing', async () => {
  let release;
  const { sub, log } = start(['a'], { getTicket: () => new Promise((r) => { release = r; }) });
  await until(() => release, 'the ticket request');
  sub.close();
  release('T');
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(FakeEventSource.made.length, 0);
  assert.deepEqual(log.states.map((s) => `${s.state}/${s.reason}`), ['connecting/start', 'closed/closed']);
});

test('topicOf: the position that moved, the newest without a cursor before', () => {
  assert.equal(topicOf('a=1-0,b=2-0', 'a=3-0,b=2-0'), 'a');
  assert.equal(topicOf('', 'a=1-0,b=1700000000000-0'), 'b');
  assert.equal(topicOf('', 'a=1700000000000-2,b=1700000000000-1'), 'a');
  assert.equal(topicOf('', '5-0', ['only']), 'only');
  assert.equal(topicOf('', '5-0', ['a', 'b']), undefined);
  // A watched key's value: its id is a hash ("0-<n>"), the keys without one are at 0-0.
  assert.equal(topicOf('', 'a=1700000000000-0,key:q=0-9188'), 'key:q');
  assert.equal(topicOf('', 'key:p=0-0,key:q=0-18446744073709551557,a=1700000000000-3'), 'key:q');
  assert.equal(topicOf('a=1700000000000-0,key:q=0-9188', 'a=1700000000000-0,key:q=0-77'), 'key:q');
});
