// The topic console in a real browser: events published by plain HTTP calls are listed with
// their ids, and after a dropped connection (by the page's button, or by the server going
// away) every event is listed exactly once, in order.
import {
  assert, assertEqual, freePort, newPage, randomName, shot, startInstance, testConfig,
} from '../harness.mjs';

const isEvents = (url) => new URL(url).pathname.endsWith('/v1/events');

/** useToken pastes a token into the page's token block. */
export async function useToken(page, token) {
  await page.locator('summary', { hasText: 'or paste a token' }).click();
  await page.locator('#paste-token').fill(token);
  await page.getByRole('button', { name: 'Use this token' }).click();
  await page.locator('#account-status[data-uid]').waitFor();
}

/** connect subscribes the console to topic and waits until its stream is open. */
export async function connect(page, topic) {
  await page.locator('#topics').fill(topic);
  await page.locator('#pub-topic').fill(topic);
  await page.getByRole('button', { name: 'Connect', exact: true }).click();
  await page.locator('#conn-status[data-state="open"]').waitFor();
}

/** listed waits until the console lists n events and returns them. */
export async function listed(page, n) {
  await page.waitForFunction((want) => document.querySelectorAll('#events li').length >= want, n);
  return page.locator('#events li').evaluateAll((lis) => lis.map((li) => ({
    id: li.dataset.id, type: li.dataset.type, data: li.querySelector('.ev-data').textContent,
  })));
}

const counter = async (page, id) => Number(await page.locator(`#${id}`).textContent());
const seqs = (rows) => rows.map((r) => JSON.parse(r.data).seq);
const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

export default [
  {
    name: 'console: "Drop connection" resumes with nothing missed and nothing repeated',
    slug: 'console-drop',
    async run(ctx) {
      const svc = await startInstance(ctx, 'console', testConfig);
      const topic = randomName('demo:bt-');
      const token = await svc.token('carol', { publish: ['demo:*'], subscribe: ['demo:*'] });
      const page = await newPage(ctx, ctx.browser);
      const streams = [];
      page.on('request', (r) => { if (isEvents(r.url())) streams.push(r); });
      await page.goto(`${svc.base}/console.html`);
      await useToken(page, token);
      await connect(page, topic);

      const ids = [];
      for (let seq = 1; seq <= 3; seq++) ids.push(await svc.publish(token, topic, { seq }));
      await listed(page, 3);

      // Hold the page's reconnect until the next events are published, so they can only
      // reach it by the resume, not live.
      let release;
      const held = new Promise((resolve) => { release = resolve; });
      await page.route((url) => isEvents(url.href), async (route) => { await held; await route.continue(); });
      await page.getByRole('button', { name: 'Drop connection' }).click();
      await page.locator('#conn-status[data-state="dropped"]').waitFor();
      for (let seq = 4; seq <= 6; seq++) ids.push(await svc.publish(token, topic, { seq }));
      assertEqual(await page.locator('#events li').count(), 3, 'events listed while dropped');
      release();
      await page.locator('#conn-status[data-state="open"]').waitFor();
      let rows = await listed(page, 6);
      await page.unroute((url) => isEvents(url.href));

      // A named event from the page's own form: the console starts listening for the name.
      await page.locator('#pub-event').fill('note');
      await page.locator('#pub-data').fill('{"seq": 7}');
      await page.getByRole('button', { name: 'Publish', exact: true }).click();
      await page.locator('#pub-result[data-tone="ok"]').waitFor();
      ids.push((await page.locator('#pub-result').textContent()).match(/^Published as (\S+)\.$/)[1]);
      rows = await listed(page, 7);

      assertEqual(seqs(rows), range(1, 7), 'sequence numbers listed');
      assertEqual(rows.map((r) => r.id), ids, 'event ids listed (the ids publishing returned)');
      assertEqual(rows.map((r) => r.type), ['message', 'message', 'message', 'message', 'message', 'message', 'note'], 'event types');
      assertEqual(await page.locator('#last-id').textContent(), ids[6], 'last id shown');
      assertEqual(await counter(page, 'reopens'), 1, 'streams reopened by the page');
      assertEqual(await page.evaluate(() => window.__eventSources.length), 2, 'EventSources the page made');

      // What went over the wire: the reopened stream asked to resume after the last event
      // seen, with the ticket spent and only the resume cookie to show.
      assertEqual(streams.length, 2, 'event-stream requests');
      assertEqual((await streams[0].allHeaders()).accept, 'text/event-stream', 'Accept of the EventSource request');
      const resumed = new URL(streams[1].url());
      assertEqual(resumed.searchParams.get('lastEventId'), ids[2], 'lastEventId of the reopened stream');
      assertEqual(resumed.searchParams.get('ticket'), new URL(streams[0].url()).searchParams.get('ticket'), 'ticket of the reopened stream');
      const cookies = (await streams[1].allHeaders()).cookie || '';
      assert(/(^|; )sse_resume_[0-9a-f]{16}=/.test(cookies), `the reopened stream sent no resume cookie (Cookie: ${cookies})`);
      await shot(page, 'console');
    },
  },
  {
    name: "console: the browser's own EventSource reconnect resumes after the instance restarts",
    slug: 'console-restart',
    async run(ctx) {
      const ports = { port: await freePort(), devPort: await freePort() };
      const a = await startInstance(ctx, 'a', testConfig, ports);
      const b = await startInstance(ctx, 'b', testConfig);
      const topic = randomName('demo:bt-');
      const token = await a.token('dave', { publish: ['demo:*'], subscribe: ['demo:*'] });
      const page = await newPage(ctx, ctx.browser);
      // Chromium logs each refused reconnect attempt while the instance is down.
      ctx.expectedConsoleErrors.push(/ERR_CONNECTION_REFUSED|Failed to load resource/);
      const streams = [];
      page.on('request', (r) => { if (isEvents(r.url())) streams.push(r); });
      await page.goto(`${a.base}/console.html`);
      await useToken(page, token);
      await connect(page, topic);

      // Published through B: A's subscribers hear them through the shared Redis.
      const ids = [];
      for (let seq = 1; seq <= 2; seq++) ids.push(await b.publish(token, topic, { seq }));
      await listed(page, 2);

      // Down long enough for the browser to find nobody there at least once: its
      // EventSource must keep trying through refused connections, not give up.
      const refused = page.waitForEvent('requestfailed', {
        predicate: (r) => isEvents(r.url()) && /ERR_CONNECTION_REFUSED/.test(r.failure()?.errorText ?? ''),
      });
      await a.stop('SIGKILL');
      await page.locator('#conn-status[data-state="reconnecting"]').waitFor();
      for (let seq = 3; seq <= 5; seq++) ids.push(await b.publish(token, topic, { seq }));
      await refused;
      await startInstance(ctx, 'a-restarted', testConfig, ports);

      // Nothing but the browser brings the stream back: same EventSource, same URL.
      await page.locator('#conn-status[data-state="open"]').waitFor({ timeout: 15_000 });
      await listed(page, 5);
      ids.push(await b.publish(token, topic, { seq: 6 }));
      const rows = await listed(page, 6);

      assertEqual(seqs(rows), range(1, 6), 'sequence numbers listed');
      assertEqual(rows.map((r) => r.id), ids, 'event ids listed');
      assert(await counter(page, 'auto-reconnects') >= 1, 'the browser did not reconnect by itself');
      assertEqual(await counter(page, 'reopens'), 0, 'streams reopened by the page');
      assertEqual(await page.evaluate(() => window.__eventSources.length), 1, 'EventSources the page made');
      // The reconnect that got through: the first URL again, and the last id the page saw.
      const answered = [];
      for (const r of streams.slice(1)) {
        const resp = await r.response();
        if (resp) answered.push({ r, status: resp.status() });
      }
      assertEqual(answered.map((x) => x.status), [200], 'statuses of the reconnects that reached a server');
      const { r } = answered[0];
      assertEqual(r.url(), streams[0].url(), 'URL of the reconnect');
      assertEqual((await r.allHeaders())['last-event-id'], ids[1], 'Last-Event-ID of the reconnect');
    },
  },
];
