// The QR-login page: creates a session (the answer sets the HttpOnly cookie that binds it to
// this browser), shows its QR code and follows its events until a terminal one, through the
// client library (client/sse-api-client.js), which tells a refused stream from a passing
// failure and retries the latter.
import { subscribe } from './client/sse-api-client.js';
import { $, api, jwtClaims, mmss, say } from './common.js';

const img = $('qr-image');
const status = $('status');
const countdown = $('countdown');
const countdownLine = $('countdown-line');
const signedIn = $('signed-in');
const newCode = $('new-code');
const cancel = $('cancel');
const phoneLink = $('phone-link');
const sessionId = $('session-id');

const STATES = ['pending', 'scanned', 'confirmed', 'consumed', 'cancelled', 'expired'];
const TERMINAL = new Set(['consumed', 'cancelled', 'expired']);

let session = null; // {id, base, stream, deadline, exchanging, timer}
let clockOffset = 0; // server clock minus ours, for the countdown

function show(state, text, tone) {
  status.dataset.state = state;
  say(status, text, tone);
}

function stopCountdown() {
  clearInterval(session?.timer);
  countdownLine.hidden = true;
}

function tick() {
  if (!session?.deadline) return;
  const left = session.deadline - (Date.now() + clockOffset);
  countdown.textContent = mmss(left);
}

// Every stream re-sends the current state first, so a state may arrive twice (after a
// reconnect): each step below must be safe to repeat.
function onSessionEvent(s, ev) {
  if (session !== s) return; // an event of a session we have left
  // The library parsed the data; the event name is the state whatever the data.
  const data = ev.data && typeof ev.data === 'object' ? ev.data : {};
  if (typeof data.expires_at === 'number') s.deadline = data.expires_at;
  tick();
  switch (ev.type) {
    case 'pending':
      show('pending', 'Waiting for your phone to scan the code…');
      break;
    case 'scanned':
      show('scanned', `Scanned by ${data.hint || 'someone'}. Confirm on your phone.`, 'warn');
      break;
    case 'confirmed':
      show('confirmed', 'Confirmed on the phone. Signing in…', 'ok');
      exchange(s);
      break;
    case 'consumed':
      // Our own exchange causes this event too, and it may arrive before the exchange's answer.
      if (!s.exchanging) show('consumed', 'This sign-in request has already been used.', 'bad');
      break;
    case 'cancelled':
      show('cancelled', data.by === 'browser' ? 'You cancelled this sign-in.' : 'Sign-in cancelled on the phone.', 'bad');
      break;
    case 'expired':
      show('expired', 'This code has expired.', 'bad');
      break;
  }
  if (TERMINAL.has(ev.type)) finish(s);
}

// finish ends a session's stream: after a terminal event the server ends the stream, and an
// open EventSource would reconnect forever just to hear the same terminal state again.
function finish(s) {
  s.stream.close();
  status.dataset.stream = 'closed';
  stopCountdown();
  cancel.hidden = true;
  img.classList.add('stale');
  if (!s.exchanging) newCode.hidden = false;
}

async function exchange(s) {
  if (s.exchanging) return;
  s.exchanging = true;
  try {
    const resp = await api(`${s.base}/exchange`, { method: 'POST' });
    const claims = jwtClaims(resp.accessToken);
    signedIn.hidden = false;
    say(signedIn, `Signed in as ${claims.uid}`, 'ok');
    signedIn.dataset.uid = claims.uid;
    show('signed-in', 'The phone confirmed, and this browser exchanged the session for its own access token.');
    finish(s);
  } catch (err) {
    show('error', `Could not sign in: ${err.message}`, 'bad');
    newCode.hidden = false;
  }
}

async function start() {
  if (session) {
    session.stream?.close();
    clearInterval(session.timer);
  }
  session = null;
  newCode.hidden = true;
  signedIn.hidden = true;
  cancel.hidden = false;
  cancel.disabled = true;
  img.classList.remove('stale');
  show('loading', 'Creating a sign-in request…');
  let created;
  try {
    const resp = await fetch('v1/qr/sessions', { method: 'POST', credentials: 'same-origin' });
    // The Date header has whole seconds, so it is trusted only to correct a clearly wrong
    // local clock, not to add its own second of error to a right one.
    const offset = Date.parse(resp.headers.get('Date') || '') - Date.now();
    clockOffset = Math.abs(offset) > 2000 ? offset : 0;
    created = await resp.json();
    if (!resp.ok) throw new Error(created?.message || `HTTP ${resp.status}`);
  } catch (err) {
    show('error', `Could not start a sign-in: ${err.message}`, 'bad');
    newCode.hidden = false;
    return;
  }
  // Relative URLs rather than the answer's absolute ones, so a sub-path proxy keeps working
  // (the binding cookie follows QRLogin.BasePath, which must then include the prefix).
  const id = encodeURIComponent(created.id);
  const s = {
    id: created.id,
    base: `v1/qr/sessions/${id}`,
    deadline: Date.parse(created.expiresAt),
    exchanging: false,
  };
  session = s;
  sessionId.textContent = created.id;
  img.src = `${s.base}/image.png`;
  phoneLink.href = `phone.html?id=${id}`;
  countdownLine.hidden = false;
  tick();
  s.timer = setInterval(tick, 250);
  cancel.disabled = false;

  s.stream = subscribe([], {
    route: `${s.base}/events`, // the session's own stream, no topics
    events: STATES,
    storageKey: null, // each stream starts with the current state: no cursor to keep
    onEvent: (ev) => onSessionEvent(s, ev),
    onState: (state, reason) => {
      if (session !== s || TERMINAL.has(status.dataset.state)) return;
      if (state === 'closed' && reason !== 'closed') {
        show('error', 'The server refused the event stream; get a new code.', 'bad');
        finish(s);
      } else if (state === 'retrying') {
        say(status, `${status.textContent.replace(/ \(reconnecting…\)$/, '')} (reconnecting…)`, status.dataset.tone);
      }
    },
  });
  status.dataset.stream = 'open';
}

newCode.addEventListener('click', start);
cancel.addEventListener('click', async () => {
  if (!session) return;
  cancel.disabled = true;
  try {
    await api(session.base, { method: 'DELETE' });
    // the cancelled event follows on the stream
  } catch (err) {
    show('error', `Could not cancel: ${err.message}`, 'bad');
  }
});

start();
