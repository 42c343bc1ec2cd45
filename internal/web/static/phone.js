// The phone simulator: the part of the signed-in app that scans a QR-login code. It acts
// with an app token (Bearer): a demo token, or a pasted one.
import { $, api, mmss, say, tokenPicker } from './common.js';

const sessionInput = $('session');
const keyInput = $('scan-key');
const scanButton = $('scan');
const request = $('request');
const result = $('result');
const confirmButton = $('confirm');
const rejectButton = $('reject');

let token = '';
let scanned = null; // {base, confirmBefore, timer}

tokenPicker((t) => {
  token = t;
  scanButton.disabled = false;
});

// The QR holds the id and the scan key, as the URL of this page (QRLogin.Content); the code
// field may also hold just the id, with the key in its own field.
function scanTarget(text, key) {
  const value = text.trim();
  try {
    const params = new URL(value, location.href).searchParams;
    if (params.get('id')) return { id: params.get('id'), key: params.get('key') || key };
  } catch {
    // not a URL
  }
  return { id: value, key };
}

const initial = new URLSearchParams(location.search);
if (initial.get('id')) sessionInput.value = initial.get('id');
if (initial.get('key')) keyInput.value = initial.get('key');

function report(state, text, tone) {
  result.dataset.state = state;
  say(result, text, tone);
}

function done() {
  clearInterval(scanned?.timer);
  confirmButton.disabled = true;
  rejectButton.disabled = true;
}

$('scan-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  if (!token) {
    report('error', 'Get or paste a token first.', 'bad');
    return;
  }
  const { id, key } = scanTarget(sessionInput.value, keyInput.value.trim());
  const base = `v1/qr/sessions/${encodeURIComponent(id)}`;
  report('scanning', 'Scanning…');
  try {
    // Without the key of the QR the service answers as if the session did not exist.
    const resp = await api(`${base}/scan`, { method: 'POST', token, body: { key } });
    done();
    scanned = { base, confirmBefore: Date.parse(resp.confirmBefore) };
    $('req-ip').textContent = resp.requester.ip || 'unknown';
    $('req-ua').textContent = resp.requester.userAgent || 'unknown';
    $('req-time').textContent = new Date(resp.requester.createdAt).toLocaleString();
    const tick = () => { $('req-left').textContent = mmss(scanned.confirmBefore - Date.now()); };
    tick();
    scanned.timer = setInterval(tick, 250);
    request.hidden = false;
    confirmButton.disabled = false;
    rejectButton.disabled = false;
    report('scanned', 'Scanned. Check the request below before you confirm.', 'warn');
    confirmButton.focus();
  } catch (err) {
    request.hidden = true;
    report('error', `Scan failed: ${err.message}`, 'bad');
  }
});

async function decide(action, doneText) {
  if (!scanned) return;
  confirmButton.disabled = true;
  rejectButton.disabled = true;
  try {
    await api(`${scanned.base}/${action}`, { method: 'POST', token });
    done();
    report(action === 'confirm' ? 'confirmed' : 'cancelled', doneText, action === 'confirm' ? 'ok' : 'warn');
  } catch (err) {
    done();
    report('error', `${action === 'confirm' ? 'Confirm' : 'Cancel'} failed: ${err.message}`, 'bad');
  }
}

confirmButton.addEventListener('click', () => decide('confirm', 'Confirmed. The other browser is now signing in.'));
rejectButton.addEventListener('click', () => decide('cancel', 'Cancelled. The other browser was told.'));
