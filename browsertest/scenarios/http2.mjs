// Streams over HTTP/2 in Chromium, with a self-signed certificate: a browser allows only 6
// HTTP/1.1 connections per origin, so a page (or a user's tabs) with more streams than that
// needs HTTP/2, where they share one connection. The ten streams below would leave four of
// them waiting forever over HTTP/1.1.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { assert, assertEqual, newPage, randomName, startInstance, testConfig } from '../harness.mjs';

const run = promisify(execFile);

/** selfSigned makes a certificate for 127.0.0.1 with openssl, in a directory of its own. */
async function selfSigned() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sse-api-h2-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', key, '-out', cert]);
  return { cert, key, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

const STREAMS = 10;

export default [
  {
    name: 'ten EventSources on one page share one HTTP/2 connection, and resume after a restart',
    slug: 'http2',
    async run(ctx) {
      const tls = await selfSigned();
      ctx.cleanups.push(tls.remove);
      const svc = await startInstance(ctx, 'h2', (p) => testConfig({ ...p, extra: `CertFile: ${tls.cert}\nKeyFile: ${tls.key}` }));
      const base = svc.base.replace('http://', 'https://');
      const token = await svc.token('h2', { publish: ['public:*'] });
      const topic = randomName('public:h2-');
      const page = await newPage(ctx, ctx.browser, { ignoreHTTPSErrors: true });
      await page.goto(`${base}/console.html`);
      await page.evaluate(({ topic, n }) => {
        window.__h2 = Array.from({ length: n }, () => {
          const st = { opened: 0, data: [] };
          const es = new EventSource(`/v1/events?topic=${encodeURIComponent(topic)}`);
          es.onopen = () => { st.opened++; };
          es.onmessage = (e) => st.data.push(e.data);
          st.es = es;
          return st;
        });
      }, { topic, n: STREAMS });
      await page.waitForFunction((n) => window.__h2.filter((s) => s.opened > 0).length === n, STREAMS);
      const publish = (data) => page.evaluate(async ({ topic, token, data }) => {
        const resp = await fetch(`/v1/topics/${encodeURIComponent(topic)}/events`, {
          method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({ data }),
        });
        return resp.status;
      }, { topic, token, data });
      assertEqual(await publish(1), 201, 'publish over HTTP/2');
      await page.waitForFunction((n) => window.__h2.every((s) => s.data.length === 1), STREAMS);

      // The page came over h2; its ten streams could only all open over one (HTTP/1.1 stops
      // at six connections per origin, and a stream never gives its connection back).
      const protocol = await page.evaluate(() => performance.getEntriesByType('navigation')[0].nextHopProtocol);
      assertEqual(protocol, 'h2', 'the page\'s protocol');

      // SIGTERM: the streams end with a jittered retry; the browser reconnects by itself to
      // the restarted instance and resumes after the event it saw.
      ctx.expectedConsoleErrors.push(/ERR_CONNECTION_REFUSED/); // reconnects while it is down
      await svc.stop('SIGTERM');
      await svc.start();
      await page.waitForFunction((n) => window.__h2.filter((s) => s.opened > 1).length === n, STREAMS, { timeout: 20_000 });
      assertEqual(await publish(2), 201, 'publish after the restart');
      await page.waitForFunction((n) => window.__h2.every((s) => s.data.length === 2), STREAMS);
      const seen = await page.evaluate(() => window.__h2.map((s) => s.data.join(',')));
      assert(seen.every((d) => d === '1,2'), `events per stream: ${seen}`);
      await page.evaluate(() => window.__h2.forEach((s) => s.es.close()));
    },
  },
];
