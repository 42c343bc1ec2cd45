// QR login in real browsers: a desktop page and a phone page, each in its own browser context
// (own cookies), as two devices would be.
import {
  assert, assertEqual, newPage, shippedConfig, shot, startInstance, testConfig,
} from '../harness.mjs';

const PHONE_UA = 'Mozilla/5.0 (Linux; Android 14; PhoneSimulator) sse-api-browsertest';

/** openStreams counts the page's EventSources that are not closed. */
const openStreams = (page) => page.evaluate(() => window.__eventSources.filter((es) => es.readyState !== 2).length);

/** qrReady waits until the login page shows a pending session with its image loaded. */
async function qrReady(page) {
  await page.locator('#status[data-state="pending"]').waitFor();
  await page.waitForFunction(() => {
    const img = document.getElementById('qr-image');
    return img.complete && img.naturalWidth > 0;
  });
  return page.locator('#session-id').textContent();
}

/** phoneOf reads the session id and scan key from the login page's link to the phone page. */
async function phoneOf(page) {
  const url = new URL(await page.locator('#phone-link').getAttribute('href'), page.url());
  return { id: url.searchParams.get('id'), key: url.searchParams.get('key') };
}

/** scanAndConfirm plays the app over plain HTTP: scan with the QR's key, then confirm. */
async function scanAndConfirm(svc, { id, key }, token) {
  for (const [action, body] of [['scan', { key }], ['confirm', undefined]]) {
    const resp = await fetch(`${svc.base}/v1/qr/sessions/${id}/${action}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: body && JSON.stringify(body),
    });
    assertEqual(resp.status, 200, `${action}: ${await resp.text()}`);
  }
}

export default [
  {
    name: 'QR login end to end with a demo token, on the shipped config (embedded Redis)',
    slug: 'qr-login',
    async run(ctx) {
      const svc = await startInstance(ctx, 'shipped', shippedConfig);
      assert(svc.logs().includes('DEMO TOKEN MINT ON'), 'the shipped config must log that the demo mint is on');

      const desktop = await newPage(ctx, ctx.browser);
      await desktop.goto(`${svc.base}/`);
      const id = await qrReady(desktop);
      const left = await desktop.locator('#countdown').textContent();
      assert(/^(2:00|1:[0-5]\d)$/.test(left), `countdown of a fresh 120 s session shows ${left}`);
      await shot(desktop, 'qr-login');

      // The phone follows the page's own (relative) link, as a person without a phone would.
      const phoneURL = new URL(await desktop.locator('#phone-link').getAttribute('href'), desktop.url());
      assertEqual(phoneURL.pathname, '/phone.html', 'phone link path');
      const phone = await newPage(ctx, ctx.browser, { userAgent: PHONE_UA });
      await phone.goto(phoneURL.href);
      assertEqual(await phone.locator('#session').inputValue(), id, 'session id the phone page picked up');
      const key = phoneURL.searchParams.get('key');
      assert(/^[A-Za-z0-9_-]{22}$/.test(key || ''), `the phone link carries the scan key: ${phoneURL.search}`);
      assertEqual(await phone.locator('#scan-key').inputValue(), key, 'scan key the phone page picked up');

      await phone.locator('#demo-user').fill('alice');
      await phone.getByRole('button', { name: 'Get a demo token' }).click();
      await phone.locator('#account-status[data-uid="alice"]').waitFor();
      await phone.getByRole('button', { name: 'Scan', exact: true }).click();
      await phone.locator('#result[data-state="scanned"]').waitFor();

      // The phone sees who asks: the desktop browser, not itself.
      const desktopUA = await desktop.evaluate(() => navigator.userAgent);
      assertEqual(await phone.locator('#req-ua').textContent(), desktopUA, 'requester user agent shown on the phone');
      assertEqual(await phone.locator('#req-ip').textContent(), '127.0.0.1', 'requester IP shown on the phone');
      const asked = await phone.locator('#req-time').textContent();
      assert(asked.length > 0 && !asked.includes('Invalid'), `requested-at shows ${JSON.stringify(asked)}`);

      await desktop.locator('#status[data-state="scanned"]').waitFor();
      assertEqual(await desktop.locator('#status').textContent(), 'Scanned by a***e. Confirm on your phone.', 'desktop status after the scan');
      await shot(phone, 'phone');
      await shot(desktop, 'qr-scanned');

      await phone.getByRole('button', { name: 'Confirm sign-in' }).click();
      await phone.locator('#result[data-state="confirmed"]').waitFor();
      // The desktop asks before it signs in: whoever confirmed may not be its user.
      await desktop.locator('#status[data-state="confirmed"]').waitFor();
      assertEqual(await desktop.locator('#status').textContent(), 'Confirmed on the phone. Sign in as a***e?', 'desktop after the confirm');
      assert(!(await desktop.locator('#signed-in').isVisible()), 'signed in before the question was answered');
      await shot(desktop, 'qr-confirmed');
      await desktop.getByRole('button', { name: 'Sign in as a***e' }).click();
      await desktop.locator('#signed-in[data-uid="alice"]').waitFor();
      assertEqual(await desktop.locator('#signed-in').textContent(), 'Signed in as alice', 'desktop after confirming');
      await desktop.locator('#status[data-stream="closed"]').waitFor();
      assertEqual(await openStreams(desktop), 0, 'EventSources still open after signing in');
      await shot(desktop, 'qr-signed-in');
    },
  },
  {
    name: 'QR code expiry is shown, and "New code" starts a new session',
    slug: 'qr-expiry',
    async run(ctx) {
      const svc = await startInstance(ctx, 'expiry', (p) => testConfig({ ...p, qrTTL: '3s' }));
      const page = await newPage(ctx, ctx.browser);
      await page.goto(`${svc.base}/`);
      const first = await qrReady(page);
      const firstImage = await page.locator('#qr-image').getAttribute('src');
      const left = await page.locator('#countdown').textContent();
      assert(/^0:0[0-3]$/.test(left), `countdown of a 3 s session shows ${left}`);

      // The server pushes the expiry at the deadline; the page must not need a reload.
      await page.locator('#status[data-state="expired"]').waitFor({ timeout: 10_000 });
      assertEqual(await page.locator('#status').textContent(), 'This code has expired.', 'status after expiry');
      assert(await page.locator('#new-code').isVisible(), '"New code" is offered after expiry');
      assert(!(await page.locator('#countdown-line').isVisible()), 'the countdown is gone after expiry');
      assertEqual(await openStreams(page), 0, 'EventSources still open after expiry');
      await shot(page, 'qr-expired');

      await page.getByRole('button', { name: 'New code' }).click();
      const second = await qrReady(page);
      assert(second !== first, 'a new session id after "New code"');
      assert(await page.locator('#qr-image').getAttribute('src') !== firstImage, 'a new QR image after "New code"');
      assert(!(await page.locator('#new-code').isVisible()), '"New code" hidden while the new code is live');
      assertEqual(await openStreams(page), 1, 'EventSources open for the new session');
    },
  },
  {
    name: 'QR "Not me" cancels a sign-in confirmed by a stranger; AutoExchange signs in without asking',
    slug: 'qr-not-me',
    async run(ctx) {
      const svc = await startInstance(ctx, 'ask', testConfig);
      const page = await newPage(ctx, ctx.browser);
      await page.goto(`${svc.base}/`);
      await qrReady(page);
      // Someone who saw the code scans and confirms it first.
      await scanAndConfirm(svc, await phoneOf(page), await svc.token('mallory'));
      await page.locator('#status[data-state="confirmed"]').waitFor();
      assertEqual(await page.locator('#status').textContent(), 'Confirmed on the phone. Sign in as m***y?', 'the question');
      await page.getByRole('button', { name: 'Not me' }).click();
      await page.locator('#status[data-state="cancelled"]').waitFor();
      assertEqual(await page.locator('#status').textContent(),
        'Not you: the sign-in was cancelled, and this browser stays signed out.', 'status after "Not me"');
      assert(!(await page.locator('#signed-in').isVisible()), 'signed in after "Not me"');
      assert(await page.locator('#new-code').isVisible(), '"New code" is offered after "Not me"');
      await page.locator('#status[data-stream="closed"]').waitFor();
      assertEqual(await openStreams(page), 0, 'EventSources still open after "Not me"');
      await shot(page, 'qr-not-me');

      const auto = await startInstance(ctx, 'auto', (p) => testConfig({ ...p, qrAutoExchange: true }));
      const autoPage = await newPage(ctx, ctx.browser);
      await autoPage.goto(`${auto.base}/`);
      await qrReady(autoPage);
      await scanAndConfirm(auto, await phoneOf(autoPage), await auto.token('bob'));
      await autoPage.locator('#signed-in[data-uid="bob"]').waitFor();
      assertEqual(await autoPage.locator('#signed-in').textContent(), 'Signed in as bob', 'signed in without a question');
      assert(!(await autoPage.locator('#ask').isVisible()), 'the question shown with AutoExchange');
    },
  },
];
