// The topic console: a ticket from the token, then a stream on the ticket's topics through
// the client library (client/sse-api-client.js), which looks after tickets, the resume
// cookie, the cursor and retries. Every event received is listed as it came, repeats
// included: the list is the evidence that a resumed stream misses and repeats nothing.
import { subscribe } from './client/sse-api-client.js';
import { $, api, say, tokenPicker } from './common.js';

const connStatus = $('conn-status');
const lastIdOut = $('last-id');
const list = $('events');
const count = $('event-count');
const connectButton = $('connect');
const dropButton = $('drop');
const disconnectButton = $('disconnect');
const publishButton = $('publish');
const pubResult = $('pub-result');

// How long "Drop connection" stays disconnected, like a network that comes back.
const DROP_MS = 1000;

let token = '';
let stream = null; // the library's subscription
let names = new Set();
const counters = { opens: 0, autoReconnects: 0, reopens: 0 };

tokenPicker((t) => {
  token = t;
  connectButton.disabled = false;
  publishButton.disabled = false;
});

function setStatus(state, text, tone) {
  connStatus.dataset.state = state;
  say(connStatus, text, tone);
}

function bump(name) {
  counters[name]++;
  $(name === 'autoReconnects' ? 'auto-reconnects' : name).textContent = String(counters[name]);
}

function splitList(text) {
  return text.split(',').map((s) => s.trim()).filter(Boolean);
}

// show lists an event. Its id is the stream's position after it: for several topics one
// position per topic ("a=1-0,b=2-0"), and a stream resumes from it as a whole.
function show({ id, type, text, topic }) {
  lastIdOut.textContent = id || '–';
  const li = document.createElement('li');
  li.dataset.id = id;
  li.dataset.type = type;
  if (topic) li.dataset.topic = topic;
  if (type === 'reset') li.className = 'reset';
  const idOut = document.createElement('code');
  idOut.className = 'ev-id';
  idOut.textContent = id;
  const typeOut = document.createElement('span');
  typeOut.className = 'ev-type';
  typeOut.textContent = type;
  const data = document.createElement('code');
  data.className = 'ev-data';
  data.textContent = text; // text, never HTML: anyone allowed to publish writes it
  li.append(idOut, typeOut, data);
  list.append(li);
  count.textContent = String(list.children.length);
  li.scrollIntoView({ block: 'nearest' });
}

// onState shows the library's state. "reconnected" is the browser's own EventSource
// reconnect (same URL, Last-Event-ID, resume cookie); any other open after the first is a
// new EventSource the page or the library made from the last id.
function onState(state, reason, { delay, error }) {
  const why = error ? `: ${error.message}` : '';
  switch (state) {
    case 'connecting':
      if (reason !== 'start') bump('reopens');
      setStatus('connecting', reason === 'ticket' ? 'getting a new ticket…' : 'connecting…');
      break;
    case 'open':
      bump('opens');
      if (reason === 'reconnected') bump('autoReconnects');
      setStatus('open', 'connected', 'ok');
      dropButton.disabled = false;
      break;
    case 'retrying':
      if (reason === 'reconnect') setStatus('dropped', `dropped; reconnecting in ${delay / 1000} s…`, 'warn');
      else if (reason === 'refused') setStatus('refused', `refused for now${why}; the browser tries again…`, 'warn');
      else if (reason === 'network') setStatus('reconnecting', 'reconnecting…', 'warn');
      else setStatus('reconnecting', `${reason === 'expired' ? 'ticket spent, cookie gone' : 'failed'}${why}; retrying in ${(delay / 1000).toFixed(1)} s…`, 'warn');
      break;
    case 'closed':
      dropButton.disabled = true;
      if (reason === 'closed') setStatus('idle', 'not connected');
      else setStatus('closed', `closed${why} (connect again)`, 'bad');
      break;
  }
}

function close() {
  stream?.close();
  stream = null;
}

$('subscribe-form').addEventListener('submit', (e) => {
  e.preventDefault();
  close();
  const keys = splitList($('keys').value);
  const topics = [...splitList($('topics').value), ...keys.map((k) => `key:${k}`)];
  names = new Set(splitList($('names').value));
  if (keys.length && !(names.has('state') && names.has('deleted'))) {
    names.add('state').add('deleted');
    $('names').value = [...names].join(', ');
  }
  disconnectButton.disabled = false;
  stream = subscribe(topics, {
    events: [...names],
    // A ticket lets EventSource in without an Authorization header; its stream sets the
    // resume cookie that the browser's reconnects (and the library's reopens) come back with.
    getTicket: async (ts) => (await api('v1/tickets', { method: 'POST', token, body: { topics: ts } })).ticket,
    onEvent: show, // resets too ({"topic","reason","lastEventId"}): no onReset is given
    onState,
  });
});

// A drop closes the stream and reopens it a moment later, as after a network error. A new
// EventSource sends no Last-Event-ID of its own, so the library puts the last id in the URL;
// the spent ticket stays in it, and the resume cookie its first stream set lets it back in.
dropButton.addEventListener('click', () => {
  if (!stream) return;
  dropButton.disabled = true;
  stream.reconnect(DROP_MS);
});

disconnectButton.addEventListener('click', () => {
  close();
  dropButton.disabled = true;
  disconnectButton.disabled = true;
});

$('clear').addEventListener('click', () => {
  list.replaceChildren();
  count.textContent = '0';
});

$('publish-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const topic = $('pub-topic').value.trim();
  const event = $('pub-event').value.trim();
  let data;
  try {
    data = JSON.parse($('pub-data').value);
  } catch {
    say(pubResult, 'Data must be JSON, e.g. {"text": "hi"} or "hi".', 'bad');
    return;
  }
  if (event && !names.has(event)) {
    names.add(event);
    $('names').value = [...names].join(', ');
    stream?.listen(event);
  }
  try {
    const body = event ? { event, data } : { data };
    const { id } = await api(`v1/topics/${encodeURIComponent(topic)}/events`, { method: 'POST', token, body });
    say(pubResult, `Published as ${id}.`, 'ok');
  } catch (err) {
    say(pubResult, `Not published: ${err.message}`, 'bad');
  }
});

// The demo key writer (POST v1/demo/keys, only with Demo.Enabled): SET, DEL or XADD on a
// demo key, as another service would; the answer is the command it ran.
async function writeKey(body) {
  const result = $('key-result');
  try {
    const { command } = await api('v1/demo/keys', { method: 'POST', body });
    say(result, command, 'ok');
  } catch (err) {
    say(result, err.status === 404 ? 'This server has no demo key writer (Demo.Enabled is off).' : `Not written: ${err.message}`, 'bad');
  }
}

$('key-form').addEventListener('submit', (e) => {
  e.preventDefault();
  let value;
  try {
    value = JSON.parse($('key-value').value);
  } catch {
    say($('key-result'), 'The value must be JSON, e.g. {"status": "scanned"} or "scanned".', 'bad');
    return;
  }
  writeKey({ key: $('key-name').value.trim(), value, ttlSeconds: Number($('key-ttl').value) || 0 });
});

$('key-delete').addEventListener('click', () => writeKey({ key: $('key-name').value.trim(), delete: true }));
