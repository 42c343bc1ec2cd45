// Redis keys that other services write, pushed to pages: the README's "Replace a polling QR
// page" recipe, its EventSource page taken from the README as written, following a key that a
// legacy writer sets with plain redis-cli commands; and the console watching a key it writes
// through the demo writer, on the shipped config.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import {
  assert, assertEqual, freePort, newPage, randomName, root, shippedConfig, shot, startInstance, testConfig,
} from '../harness.mjs';
import { listed } from './console.mjs';

const run = promisify(execFile);

/**
 * ownRedis starts a redis-server for the scenario, with keyspace notifications on (the shared
 * Redis's settings are not the tests' to change), killed when the scenario ends. cli runs
 * redis-cli against it: the legacy writer.
 */
async function ownRedis(ctx) {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sse-api-browsertest-redis-'));
  const proc = spawn('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no',
    '--notify-keyspace-events', 'KEA',
  ], { stdio: 'ignore' });
  const exited = once(proc, 'exit');
  ctx.cleanups.push(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const cli = async (...args) => (await run('redis-cli', ['-p', String(port), ...args])).stdout.trim();
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (await cli('PING').catch(() => '') === 'PONG') break;
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`redis-server on ${port} did not start`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { addr: `127.0.0.1:${port}`, cli };
}

/** recipePage is the README's EventSource page for the QR recipe, exactly as written there. */
function recipePage() {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const block = readme.match(/<!-- browsertest: qrcode\.html[^\n]*-->\n```html\n([\s\S]*?)\n```/);
  if (!block) throw new Error('README.md has no ```html block marked "browsertest: qrcode.html"');
  return `<!doctype html>\n<meta charset="utf-8">\n<title>Scan to sign in</title>\n${block[1]}\n`;
}

/**
 * recipeOpen opens the recipe page for a code id, served from the instance's origin (as a
 * proxy would serve it beside sse-api), recording every event its listeners are given.
 */
async function recipeOpen(ctx, svc, html, id) {
  const page = await newPage(ctx, ctx.browser);
  await page.addInitScript(() => {
    window.__seen = [];
    const proto = window.EventSource.prototype;
    const add = proto.addEventListener;
    proto.addEventListener = function record(type, listener, ...rest) {
      return add.call(this, type, (e) => {
        window.__seen.push({ type, id: e.lastEventId, data: e.data });
        listener(e);
      }, ...rest);
    };
  });
  await page.route((url) => url.pathname === '/qrcode.html', (route) => route.fulfill({
    status: 200, contentType: 'text/html; charset=utf-8', body: html,
  }));
  await page.goto(`${svc.base}/qrcode.html?id=${id}`);
  return page;
}

const showing = (page, text) => page.waitForFunction((want) => document.getElementById('status').textContent === want, text);
const allClosed = (page) => page.waitForFunction(() => window.__eventSources.length > 0 && window.__eventSources.every((es) => es.readyState === 2));

export default [
  {
    name: 'Replace a polling QR page: the README page follows a key that redis-cli writes',
    slug: 'watch-qr-recipe',
    async run(ctx) {
      const redis = await ownRedis(ctx);
      const rule = 'Watch:\n  Keys:\n    - Pattern: "qrcode:*"\n      Kind: state\n      Public: true';
      const svc = await startInstance(ctx, 'watch', (p) => testConfig({ ...p, redis: redis.addr, extra: rule }));
      const html = recipePage();

      // The legacy service creates the code, the page opens, the phone scans and confirms.
      const id = crypto.randomUUID();
      const key = `qrcode:${id}`;
      await redis.cli('SET', key, '{"status":"pending"}', 'EX', '120');
      const page = await recipeOpen(ctx, svc, html, id);
      await showing(page, 'pending');
      for (const status of ['scanned', 'confirmed']) {
        await redis.cli('SET', key, JSON.stringify({ status }), 'EX', '120');
        await showing(page, status);
      }
      await allClosed(page); // the page closed its stream on "confirmed"
      await shot(page, 'watch-qr-recipe');
      const seen = await page.evaluate(() => window.__seen);
      assertEqual(seen.map((e) => [e.type, JSON.parse(e.data).status]),
        [['state', 'pending'], ['state', 'scanned'], ['state', 'confirmed']], 'events the page was given');
      assert(seen.every((e) => /^0-\d+$/.test(e.id)), `ids of values: ${seen.map((e) => e.id)}`);
      assertEqual(new Set(seen.map((e) => e.id)).size, 3, 'distinct values have distinct ids');

      // A code nobody scans: its TTL runs out in Redis (shortened here, not to wait two
      // minutes), and the page says so at once.
      const late = crypto.randomUUID();
      await redis.cli('SET', `qrcode:${late}`, '{"status":"pending"}', 'EX', '120');
      const expiring = await recipeOpen(ctx, svc, html, late);
      await showing(expiring, 'pending');
      await redis.cli('PEXPIRE', `qrcode:${late}`, '200');
      await showing(expiring, 'expired');
      await allClosed(expiring);
      const told = await expiring.evaluate(() => window.__seen.map((e) => [e.type, e.data]));
      assertEqual(told, [['state', '{"status":"pending"}'], ['deleted', '{"reason":"expired"}']], 'events of an expired code');
    },
  },
  {
    name: 'console: watches a key the demo writer sets, resuming with no value repeated (shipped config)',
    slug: 'watch-console',
    async run(ctx) {
      const svc = await startInstance(ctx, 'shipped', shippedConfig);
      const page = await newPage(ctx, ctx.browser);
      await page.goto(`${svc.base}/console.html`);
      await page.locator('#demo-user').fill('alice');
      await page.getByRole('button', { name: 'Get a demo token' }).click();
      await page.locator('#account-status[data-uid="alice"]').waitFor();

      const key = randomName('demo:bt-');
      await page.locator('#keys').fill(key);
      await page.getByRole('button', { name: 'Connect', exact: true }).click();
      await page.locator('#conn-status[data-state="open"]').waitFor();
      let rows = await listed(page, 1);
      assertEqual([rows[0].type, rows[0].data], ['deleted', '{"reason":"absent"}'], 'a key not written yet');
      assert((await page.locator('#names').inputValue()).includes('state'), 'the console listens for state events');

      const write = async (value, button = 'Write key') => {
        await page.locator('#key-name').fill(key);
        if (value !== undefined) await page.locator('#key-value').fill(value);
        await page.locator('#key-result').evaluate((el) => { el.textContent = ''; delete el.dataset.tone; });
        await page.getByRole('button', { name: button, exact: true }).click();
        await page.locator('#key-result[data-tone="ok"]').waitFor();
        return page.locator('#key-result').textContent();
      };
      assertEqual(await write('{"status": "pending"}'), `SET ${key} "{\\"status\\":\\"pending\\"}"`, 'command shown');
      rows = await listed(page, 2);
      await write('{"status": "pending"}'); // the same value again: nothing to send
      await write('{"status": "scanned"}');
      rows = await listed(page, 3);

      // Dropped: the value written meanwhile comes once after the resume, nothing else again.
      await page.getByRole('button', { name: 'Drop connection' }).click();
      await page.locator('#conn-status[data-state="dropped"]').waitFor();
      await write('{"status": "confirmed"}');
      await page.locator('#conn-status[data-state="open"]').waitFor();
      rows = await listed(page, 4);
      await write(undefined, 'Delete key');
      rows = await listed(page, 5);
      await shot(page, 'watch-console');
      assertEqual(rows.map((r) => [r.type, r.data]), [
        ['deleted', '{"reason":"absent"}'],
        ['state', '{"status":"pending"}'],
        ['state', '{"status":"scanned"}'],
        ['state', '{"status":"confirmed"}'],
        ['deleted', '{"reason":"deleted"}'],
      ], 'events listed');
      assertEqual(rows[0].id, rows[4].id, 'absent and deleted: one id, that of no value');
    },
  },
];
