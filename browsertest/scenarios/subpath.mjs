// The pages behind a reverse proxy that mounts the service under /sse/: every URL the pages
// use is relative, so they reach the API through the proxy, and the cookies the service sets
// (QR binding, stream resume) match once its paths are configured with the prefix.
import {
  assert, assertEqual, newPage, randomName, shot, startInstance, subPathProxy, testConfig,
} from '../harness.mjs';
import { connect, listed, useToken } from './console.mjs';

export default [
  {
    name: 'pages under a sub-path proxy: QR cancelled on the phone, console resumes after a drop',
    slug: 'subpath',
    async run(ctx) {
      const svc = await startInstance(ctx, 'subpath', (p) => testConfig({
        ...p, basePath: '/sse/v1/qr/sessions', resumeCookiePath: '/sse/v1/events',
      }));
      const proxy = await subPathProxy('/sse', svc.base);
      ctx.cleanups.push(proxy.close);
      // The phone first asks for a demo token, which this server (real Redis) does not mint.
      ctx.expectedConsoleErrors.push(/status of 404/);

      const outside = [];
      const watch = (page) => page.on('request', (r) => {
        if (!r.url().startsWith(proxy.url)) outside.push(r.url());
      });

      const desktop = await newPage(ctx, ctx.browser);
      watch(desktop);
      await desktop.goto(proxy.url);
      await desktop.locator('#status[data-state="pending"]').waitFor();
      const id = await desktop.locator('#session-id').textContent();

      const phone = await newPage(ctx, ctx.browser);
      watch(phone);
      await phone.goto(new URL(await desktop.locator('#phone-link').getAttribute('href'), desktop.url()).href);
      await phone.getByRole('button', { name: 'Get a demo token' }).click();
      await phone.locator('#account-status[data-tone="bad"]').waitFor();
      assert((await phone.locator('#account-status').textContent()).includes('no demo tokens'),
        'the phone explains that this server mints no demo tokens');
      await useToken(phone, await svc.token('bob'));
      assertEqual(await phone.locator('#session').inputValue(), id, 'session id the phone page picked up');
      assert((await phone.locator('#scan-key').inputValue()).length === 22, 'the phone page picked up the scan key');
      await phone.getByRole('button', { name: 'Scan', exact: true }).click();
      await phone.locator('#result[data-state="scanned"]').waitFor();
      // The desktop's address as forwarded by the proxy chain (the test browsers claim one).
      assertEqual(await phone.locator('#req-ip').textContent(), ctx.clientAddr, 'requester IP shown on the phone');
      await desktop.locator('#status[data-state="scanned"]').waitFor();
      await phone.getByRole('button', { name: 'Cancel' }).click();
      await phone.locator('#result[data-state="cancelled"]').waitFor();
      await desktop.locator('#status[data-state="cancelled"]').waitFor();
      assertEqual(await desktop.locator('#status').textContent(), 'Sign-in cancelled on the phone.', 'desktop after the phone cancelled');
      assert(await desktop.locator('#new-code').isVisible(), '"New code" is offered after a cancel');
      assertEqual(await desktop.evaluate(() => window.__eventSources.filter((es) => es.readyState !== 2).length), 0,
        'EventSources still open after the cancel');
      await shot(desktop, 'qr-cancelled');

      const topic = randomName('demo:bt-');
      const token = await svc.token('frank', { publish: ['demo:*'], subscribe: ['demo:*'] });
      const console_ = await newPage(ctx, ctx.browser);
      watch(console_);
      await console_.goto(`${proxy.url}console.html`);
      await useToken(console_, token);
      await connect(console_, topic);
      await console_.getByRole('button', { name: 'Publish', exact: true }).click();
      await listed(console_, 1);
      await console_.getByRole('button', { name: 'Drop connection' }).click();
      await console_.locator('#conn-status[data-state="open"]').waitFor();
      await svc.publish(token, topic, { text: 'after the drop' });
      const rows = await listed(console_, 2);
      assertEqual(rows.map((r) => r.data), ['{"text":"hello"}', '{"text":"after the drop"}'], 'events listed through the proxy');

      assertEqual(outside, [], 'requests the pages made outside the proxied prefix');
    },
  },
];
