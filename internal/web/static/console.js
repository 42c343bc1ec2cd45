// The topic console: a ticket from the token, then an EventSource on the ticket's topics.
// Every event received is listed as it came, repeats included: the list is the evidence that
// a resumed stream misses and repeats nothing.
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
let stream = null; // {url, es}
let lastId = '';
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

function show(ev) {
  // lastEventId is the stream's position after this event: for several topics it names one
  // position per topic ("a=1-0,b=2-0"), and a stream resumes from it as a whole.
  lastId = ev.lastEventId;
  lastIdOut.textContent = lastId || '–';
  const li = document.createElement('li');
  li.dataset.id = ev.lastEventId;
  li.dataset.type = ev.type;
  if (ev.type === 'reset') li.className = 'reset';
  const id = document.createElement('code');
  id.className = 'ev-id';
  id.textContent = ev.lastEventId;
  const type = document.createElement('span');
  type.className = 'ev-type';
  type.textContent = ev.type;
  const data = document.createElement('code');
  data.className = 'ev-data';
  data.textContent = ev.data; // text, never HTML: anyone allowed to publish writes it
  li.append(id, type, data);
  list.append(li);
  count.textContent = String(list.children.length);
  li.scrollIntoView({ block: 'nearest' });
}

function listen(es, name) {
  es.addEventListener(name, (ev) => {
    if (stream?.es === es) show(ev);
  });
}

// open starts an EventSource on url. Its own reconnects (after a network error or the
// server ending the stream) resend Last-Event-ID and the resume cookie by themselves.
function open(url) {
  const es = new EventSource(url);
  stream = { url, es };
  let opened = false;
  for (const name of names) listen(es, name);
  es.addEventListener('open', () => {
    if (stream?.es !== es) return;
    bump('opens');
    if (opened) bump('autoReconnects');
    opened = true;
    setStatus('open', 'connected', 'ok');
  });
  es.addEventListener('error', () => {
    if (stream?.es !== es) return;
    if (es.readyState === EventSource.CONNECTING) {
      setStatus('reconnecting', 'reconnecting…', 'warn');
    } else {
      setStatus('closed', 'closed by the server (the credential was refused; connect again)', 'bad');
      dropButton.disabled = true;
    }
  });
  dropButton.disabled = false;
  disconnectButton.disabled = false;
  setStatus('connecting', 'connecting…');
}

function close() {
  stream?.es.close();
  stream = null;
}

$('subscribe-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  close();
  const topics = splitList($('topics').value);
  names = new Set(splitList($('names').value));
  setStatus('connecting', 'getting a ticket…');
  try {
    const { ticket } = await api('v1/tickets', { method: 'POST', token, body: { topics } });
    lastId = '';
    open(`v1/events?ticket=${encodeURIComponent(ticket)}`);
  } catch (err) {
    setStatus('error', `no ticket: ${err.message}`, 'bad');
  }
});

// A drop closes the stream and reopens it a moment later, as a browser does after a network
// error. A new EventSource sends no Last-Event-ID of its own, so the last id goes in the URL;
// the spent ticket stays in it, and the resume cookie its first stream set lets it back in.
dropButton.addEventListener('click', () => {
  if (!stream) return;
  const { url } = stream;
  close();
  dropButton.disabled = true;
  setStatus('dropped', `dropped; reconnecting in ${DROP_MS / 1000} s…`, 'warn');
  setTimeout(() => {
    if (stream) return; // connected anew meanwhile
    const resume = lastId ? `${url}&lastEventId=${encodeURIComponent(lastId)}` : url;
    bump('reopens');
    open(resume);
  }, DROP_MS);
});

disconnectButton.addEventListener('click', () => {
  close();
  dropButton.disabled = true;
  disconnectButton.disabled = true;
  setStatus('idle', 'not connected');
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
    if (stream) listen(stream.es, event);
  }
  try {
    const body = event ? { event, data } : { data };
    const { id } = await api(`v1/topics/${encodeURIComponent(topic)}/events`, { method: 'POST', token, body });
    say(pubResult, `Published as ${id}.`, 'ok');
  } catch (err) {
    say(pubResult, `Not published: ${err.message}`, 'bad');
  }
});
