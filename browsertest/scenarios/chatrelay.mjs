// The chat-relay example (examples/chat-relay) in a real browser: its page asks a question,
// the service relays the fake model's streamed answer to a public topic with publish.Relay,
// and the page follows the topic on sse-api with EventSource. The network between the
// browser and sse-api drops mid-answer: after the browser's own reconnect the page shows the
// whole answer, no token lost or repeated. A page opened on the answer's link afterwards
// shows it whole from the start. An upstream that breaks off ends the answer as such.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { promisify } from 'node:util';

import {
  assert, assertEqual, freePort, newPage, redisAddr, root, shot, startInstance, testConfig,
} from '../harness.mjs';
import { cuttableLink } from './client.mjs';

const run = promisify(execFile);
const isEvents = (url) => new URL(url).pathname.endsWith('/v1/events');

// The fake model's answer to "count to n" (examples/chat-relay/internal/fakemodel).
const answerTokens = (n) => ['Counting', ' to', ` ${n}:`, ...Array.from({ length: n - 1 }, (_, i) => ` ${i + 1},`), ` ${n}.`];

// Event ids are Redis stream ids, <ms>-<seq>: strictly increasing along a topic.
const idKey = (id) => id.split('-').map(BigInt);
const increasing = (ids) => ids.every((id, i) => {
  if (i === 0) return true;
  const [a, b] = [idKey(ids[i - 1]), idKey(id)];
  return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
});

let building; // the build, started once per run

/**
 * buildChatRelay compiles the example, with the race detector as the service is. It starts
 * when this module loads (below), beside the runner's build of the service, so that the
 * scenario's time is not the build's.
 */
function buildChatRelay() {
  building ??= (async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-relay-browsertest-'));
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    const out = path.join(dir, 'chat-relay');
    const race = process.env.BROWSERTEST_RACE !== '0';
    await run('go', ['build', ...(race ? ['-race'] : []), '-o', out, './examples/chat-relay'], { cwd: root, maxBuffer: 16 << 20 });
    return out;
  })();
  return building;
}

/**
 * startChatRelay runs the example on port, answering through the Redis sse-api reads, its
 * page following topics at eventsBase. Its logs and races reach the scenario's problems.
 */
async function startChatRelay(ctx, { port, eventsBase, tokenDelay = '25ms' }) {
  const bin = await buildChatRelay();
  const config = path.join(path.dirname(bin), `chat-relay-${port}.yaml`);
  fs.writeFileSync(config, [
    'Name: chat-relay-browsertest',
    'Host: 127.0.0.1',
    `Port: ${port}`,
    'Log:',
    '  Encoding: plain',
    '  Stat: false',
    'Redis:',
    `  Addrs: ["${redisAddr}"]`,
    `EventsBase: ${eventsBase}`,
    'Upstream:',
    `  FakeTokenDelay: ${tokenDelay}`,
    'Answers:',
    '  PerMinute: 1000',
    '',
  ].join('\n'));
  const proc = spawn(bin, ['-f', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  let started;
  const saidStarted = new Promise((resolve) => { started = resolve; });
  for (const output of [proc.stdout, proc.stderr]) {
    readline.createInterface({ input: output, crlfDelay: Infinity }).on('line', (line) => {
      lines.push(line);
      if (line.includes('Starting server at ')) started();
    });
  }
  const exited = once(proc, 'close');
  ctx.cleanups.push(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
    if (lines.some((l) => l.includes('WARNING: DATA RACE'))) {
      ctx.problems.push(`chat-relay: the race detector reported a data race:\n${lines.join('\n')}`);
    }
  });
  const first = await Promise.race([saidStarted, exited.then(() => 'exited')]);
  if (first === 'exited') throw new Error(`chat-relay exited at start:\n${lines.join('\n')}`);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const sock = net.connect({ host: '127.0.0.1', port });
      sock.on('connect', () => { sock.destroy(); resolve(true); });
      sock.on('error', () => resolve(false));
    });
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`chat-relay does not accept on ${port}:\n${lines.join('\n')}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return { base: `http://127.0.0.1:${port}`, logs: () => lines.join('\n') };
}

/**
 * setUp starts sse-api with chat:* public and the example's page origin allowed, a link
 * between the browser and sse-api that the test can cut, and the example behind it.
 */
async function setUp(ctx, name) {
  const chatPort = await freePort();
  const origin = `http://127.0.0.1:${chatPort}`;
  const svc = await startInstance(ctx, name, (p) => testConfig({
    ...p, publicTopics: ['public:*', 'chat:*'], extra: `CorsOrigins: ["${origin}"]`,
  }));
  const link = await cuttableLink(svc.port);
  ctx.cleanups.push(link.close);
  const chat = await startChatRelay(ctx, { port: chatPort, eventsBase: link.base });
  return { svc, link, chat };
}

/**
 * chatPage opens a page without the X-Forwarded-For that newPage adds: on the page's
 * cross-origin EventSource that header takes a CORS preflight, which sse-api's CORS (it
 * allows Last-Event-ID) refuses, and the stream never opens; browsers send no such header.
 * The limits here are generous, so counting under the shared 127.0.0.1 is fine.
 */
const chatPage = (ctx) => newPage(ctx, ctx.browser, { extraHTTPHeaders: {} });

/** ask opens the page, asks question and returns the page once the answer has begun. */
async function ask(ctx, chat, question) {
  const page = await chatPage(ctx);
  const streams = [];
  page.on('request', (r) => { if (isEvents(r.url())) streams.push(r); });
  await page.goto(`${chat.base}/`);
  await page.fill('#q', question);
  await page.click('#send');
  await page.waitForFunction(() => window.__chat?.opens >= 1);
  return { page, streams };
}

const chatState = (page) => page.evaluate(() => window.__chat);
const ended = (page) => page.waitForFunction(() => window.__chat?.end !== null && window.__chat?.end !== undefined, null, { timeout: 30_000 });

const scenarios = [
  {
    name: 'chat relay: an answer cut mid-way resumes whole and once; a late page reads it from the start',
    slug: 'chat-relay-resume',
    async run(ctx) {
      const { link, chat } = await setUp(ctx, 'chat-relay-resume');
      ctx.expectedConsoleErrors.push(/ERR_CONNECTION_RESET|ERR_EMPTY_RESPONSE|ERR_CONNECTION_REFUSED|Failed to load resource/);
      const n = 120;
      const want = answerTokens(n);
      const { page, streams } = await ask(ctx, chat, `Count to ${n}, please.`);
      await page.waitForFunction(() => window.__chat.tokens.length >= 20);

      // Down until a reconnect failed too: the tokens relayed meanwhile can only reach the
      // page by resuming from the last id it saw.
      let failures = 0;
      const failed = page.waitForEvent('requestfailed', { predicate: (r) => isEvents(r.url()) && ++failures === 2 });
      link.down();
      await failed;
      const atDrop = (await chatState(page)).tokens.length;
      assert(atDrop < want.length, `the answer was over (${atDrop} tokens) before the drop`);
      link.up();
      await ended(page);
      await shot(page, 'chat-relay-resumed');

      const got = await chatState(page);
      assertEqual(got.end, 'done', 'reason of the end event');
      assertEqual(got.tokens, want, 'tokens shown, in order');
      assertEqual(await page.textContent('#answer'), want.join(''), 'answer on the page');
      assertEqual(await page.textContent('#question'), `Count to ${n}, please.`, 'question on the page');
      assertEqual(new Set(got.ids).size, got.ids.length, 'distinct event ids');
      assert(increasing(got.ids), `event ids not increasing: ${got.ids.join(' ')}`);
      assert(got.drops >= 1 && got.opens >= 2, `drops ${got.drops}, opens ${got.opens}: the page did not reconnect`);
      // The browser's own reconnect did it: one EventSource, its reconnects with Last-Event-ID.
      assertEqual(await page.evaluate(() => window.__eventSources.length), 1, 'EventSources made');
      const resumed = streams.at(-1);
      const lastEventId = (await resumed.allHeaders())['last-event-id'];
      assert(got.ids.includes(lastEventId), `the reconnect sent Last-Event-ID ${lastEventId}, not an id the page saw`);
      assert(await page.textContent('#status') === 'Done.', 'status after the end');

      // A page opened on the answer's link afterwards reads all of it from the start.
      const hash = await page.evaluate(() => location.hash);
      assertEqual(hash, `#${got.topic.slice('chat:'.length)}`, 'the answer\'s link');
      const late = await chatPage(ctx);
      await late.goto(`${chat.base}/${hash}`);
      await ended(late);
      await shot(late, 'chat-relay-late');
      const lateGot = await chatState(late);
      assertEqual(lateGot.tokens, want, 'tokens of the late page');
      assertEqual(lateGot.ids, got.ids, 'event ids of the late page');
      assertEqual(lateGot.end, 'done', 'end of the late page');
      assertEqual(await late.textContent('#question'), `Count to ${n}, please.`, 'question on the late page');
    },
  },
  {
    name: 'chat relay: an upstream that breaks off ends the answer as an upstream error',
    slug: 'chat-relay-upstream-error',
    async run(ctx) {
      const { chat } = await setUp(ctx, 'chat-relay-upstream-error');
      const n = 30;
      const { page } = await ask(ctx, chat, `Count to ${n} and fail`);
      await ended(page);
      await shot(page, 'chat-relay-upstream-error');
      const got = await chatState(page);
      const want = answerTokens(n);
      assertEqual(got.end, 'upstream-error', 'reason of the end event');
      assertEqual(got.tokens, want.slice(0, Math.floor(want.length / 2)), 'tokens shown before the break');
      assert((await page.textContent('#status')).includes('broke off'), 'the page says the answer is incomplete');
    },
  },
];

// Build now when the runner will run one of these (its filters are its arguments, matched
// as run.mjs matches them); a failed build fails the scenarios that await it.
const filters = process.argv.slice(2);
if (filters.length === 0 || scenarios.some((sc) => filters.some((f) => sc.name.includes(f)))) {
  buildChatRelay().catch(() => {});
}

export default scenarios;
