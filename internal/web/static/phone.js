// The phone simulator: the part of the signed-in app that scans a QR-login code. It acts
// with an app token (Bearer): a demo token, or a pasted one.
import { $, api, mmss, say, tokenPicker } from './common.js';

const sessionInput = $('session');
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

// The QR may hold the whole URL of this page (QRLogin.Content), or just the id.
function sessionIdOf(text) {
  const value = text.trim();
  try {
    const id = new URL(value, location.href).searchParams.get('id');
    if (id) return id;
  } catch {
    // not a URL
  }
  return value;
}

const initial = new URLSearchParams(location.search).get('id');
if (initial) sessionInput.value = initial;

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
  const id = sessionIdOf(sessionInput.value);
  const base = `v1/qr/sessions/${encodeURIComponent(id)}`;
  report('scanning', 'Scanning…');
  try {
    const resp = await api(`${base}/scan`, { method: 'POST', token });
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
