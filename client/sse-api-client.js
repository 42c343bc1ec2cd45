// @ts-self-types="./sse-api-client.d.ts"
// sse-api-client: a browser client for sse-api streams. One ES module, no build step, no
// dependencies; TypeScript declarations in sse-api-client.d.ts.
//
// It wraps EventSource and adds what sse-api's streams need beyond it:
// - tickets from the page's own callback, renewed when the ticket is spent and its resume
//   cookie is gone (the service then answers 401);
// - the resume cookie left working: the browser's own reconnects keep the very same URL;
// - multi-topic cursors ("a=<id>,b=<id>"), passed back as ?lastEventId= whenever the library
//   has to make a new EventSource (a new one sends no Last-Event-ID of its own);
// - the cursor kept in sessionStorage, so a reloaded page resumes where it stopped;
// - `reset` events and the service's `error` events (refusals), reported;
// - a stream that EventSource gave up on (any answer but 200): its status learnt with one
//   probing fetch, then a new ticket, a backoff and a reopen, or a stop.

const DEFAULTS = {
  base: '', // relative to the page, so a service under a proxy's sub-path just works
  route: 'v1/events',
  minDelay: 1000,
  maxDelay: 30_000,
};

// A stream open this long without a refusal counts as healthy: the backoff starts over.
const STABLE_MS = 5000;

// The probe must not hang a reopen behind an unresponsive server.
const PROBE_TIMEOUT_MS = 10_000;

// Event names the library handles itself: EventSource's own events, and the service's.
const OWN_EVENTS = new Set(['open', 'error', 'reset']);

/**
 * subscribe opens a stream on topics and keeps it going until close(). See the README and
 * sse-api-client.d.ts for the options and callbacks.
 */
export function subscribe(topics, options = {}) {
  return new Subscription(topics, options);
}

export class Subscription {
  #o;
  #storageKey;
  #withCredentials;
  #names = new Set(['message']);
  #es = null; // the EventSource in use
  #opened = false; // whether #es opened once, so its next open is its own reconnect
  #url = ''; // #es's URL: the browser's own reconnects use it as it is
  #ticket = '';
  #lastId = '';
  #state = 'connecting';
  #timer = undefined; // a reopen waiting
  #stable = undefined; // declares an open stream healthy
  #failures = 0; // failed opens in a row, for the backoff
  #gen = 0; // changes whenever #es is replaced, so that late answers of an old one are ignored
  #closed = false;

  constructor(topics, options = {}) {
    /** @type {readonly string[]} */
    this.topics = Object.freeze([...topics]);
    this.#o = { ...DEFAULTS, ...options };
    for (const name of options.events ?? []) this.#names.add(name);
    const path = joinPath(this.#o.base, this.#o.route);
    this.#storageKey = options.storageKey === undefined
      ? `sse-api-client:${path}?${[...this.topics].sort().join(',')}`
      : options.storageKey || null;
    this.#withCredentials = options.withCredentials ?? crossOrigin(path);
    this.#lastId = options.lastEventId ?? load(this.#storageKey) ?? '';
    this.#open('start');
  }

  /** The cursor: where a new stream would resume. */
  get lastEventId() { return this.#lastId; }

  /** 'connecting', 'open', 'retrying' or 'closed'. */
  get state() { return this.#state; }

  /** listen adds an event name to hear: EventSource hears only the names it listens for. */
  listen(name) {
    if (this.#names.has(name) || OWN_EVENTS.has(name)) return;
    this.#names.add(name);
    this.#es?.addEventListener(name, this.#onMessage);
  }

  /**
   * reconnect drops the stream and opens a new one after delay ms, from the cursor, with the
   * same credential (a spent ticket comes back in with its resume cookie).
   */
  reconnect(delay = 0) {
    if (this.#closed) return;
    this.#drop();
    this.#setState('retrying', 'reconnect', { delay });
    this.#later(delay, 'reopen');
  }

  /** close ends the stream for good. The cursor stays stored for a later subscribe. */
  close() {
    if (this.#closed) return;
    this.#end('closed');
  }

  async #open(reason) {
    if (this.#closed) return;
    const gen = ++this.#gen;
    this.#setState('connecting', reason);
    if (this.#o.getTicket && !this.#ticket) {
      let ticket;
      try {
        ticket = await this.#o.getTicket(this.topics);
        if (typeof ticket !== 'string' || ticket === '') throw new Error('getTicket gave no ticket');
      } catch (err) {
        if (gen !== this.#gen || this.#closed) return;
        // An error with a status (the page's API error) says whether trying again may help.
        this.#fail({ code: err?.code || 'ticket', message: String(err?.message ?? err), status: err?.status ?? 0 });
        return;
      }
      if (gen !== this.#gen || this.#closed) return;
      this.#ticket = ticket;
    }
    this.#url = this.#streamURL();
    const es = new EventSource(this.#url, { withCredentials: this.#withCredentials });
    this.#es = es;
    this.#opened = false;
    es.addEventListener('open', this.#onOpen);
    es.addEventListener('error', this.#onError);
    es.addEventListener('reset', this.#onReset);
    for (const name of this.#names) es.addEventListener(name, this.#onMessage);
  }

  #onOpen = (ev) => {
    if (ev.target !== this.#es) return;
    const again = this.#opened;
    this.#opened = true;
    clearTimeout(this.#stable);
    this.#stable = setTimeout(() => { this.#failures = 0; }, STABLE_MS);
    this.#setState('open', again ? 'reconnected' : 'opened');
  };

  #onMessage = (ev) => {
    if (ev.target !== this.#es) return;
    const topic = this.#advance(ev.lastEventId);
    this.#failures = 0;
    call(this.#o.onEvent, { topic, id: ev.lastEventId, type: ev.type, data: parse(ev.data), text: ev.data });
  };

  // A reset moves the cursor past events that are gone; its data names the topic.
  #onReset = (ev) => {
    if (ev.target !== this.#es) return;
    this.#advance(ev.lastEventId);
    const data = parse(ev.data);
    const reset = { topic: data?.topic, reason: data?.reason, lastEventId: data?.lastEventId, id: ev.lastEventId };
    if (this.#o.onReset) call(this.#o.onReset, reset);
    else call(this.#o.onEvent, { topic: reset.topic, id: ev.lastEventId, type: 'reset', data, text: ev.data });
  };

  // 'error' is both EventSource's connection error (an Event) and the service's `event:
  // error` (a MessageEvent with data): a refusal, after which the stream ends.
  #onError = (ev) => {
    const es = ev.target;
    if (es !== this.#es) return;
    if (typeof ev.data === 'string') {
      const notice = parse(ev.data);
      if (!isNotice(notice)) {
        this.#onMessage(ev); // a publisher's own event named "error"
        return;
      }
      // EventSource comes back by itself after the server's jittered retry: the service
      // paces its refusals, and EventSource cannot tell the library that delay.
      clearTimeout(this.#stable);
      call(this.#o.onError, notice);
      this.#setState('retrying', 'refused', { error: notice });
      return;
    }
    clearTimeout(this.#stable);
    if (es.readyState !== EventSource.CLOSED) {
      // A dropped connection or an ended stream: the browser reconnects with the same URL
      // and Last-Event-ID (and the resume cookie), which is all it takes. Said once per
      // outage, not at every failed attempt.
      if (this.#state !== 'retrying') this.#setState('retrying', 'network');
      return;
    }
    // The answer was not a 200 event stream, and EventSource gives up for good.
    this.#drop();
    this.#diagnose();
  };

  // diagnose learns the status EventSource hides with one fetch of the same URL asking for
  // JSON, and decides: a new ticket, a backoff, or a stop.
  async #diagnose() {
    const gen = this.#gen;
    const failure = await probe(this.#url, this.#withCredentials);
    if (gen !== this.#gen || this.#closed) return;
    if (failure.status === 401 && this.#o.getTicket) {
      // The ticket is spent and its resume cookie gone or expired: a new one, at once the
      // first time, after a backoff if new tickets keep being refused.
      this.#ticket = '';
      const delay = this.#failures === 0 ? 0 : backoff(this.#failures, this.#o);
      this.#failures++;
      this.#setState('retrying', 'expired', { delay, error: failure });
      this.#later(delay, 'ticket');
      return;
    }
    if (failure.status === 204) {
      this.#end('ended'); // the service has nothing more for this stream
      return;
    }
    this.#fail(failure);
  }

  // fail reports a failure and retries after a backoff, unless retrying cannot help.
  #fail(failure) {
    call(this.#o.onError, failure);
    if (final(failure.status)) {
      this.#end('refused', { error: failure });
      return;
    }
    const delay = backoff(++this.#failures, this.#o);
    this.#setState('retrying', 'failed', { delay, error: failure });
    this.#later(delay, 'reopen');
  }

  #advance(id) {
    const before = this.#lastId;
    if (id && id !== before) {
      this.#lastId = id;
      store(this.#storageKey, id);
    }
    return topicOf(before, id, this.topics);
  }

  #streamURL() {
    const q = new URLSearchParams();
    for (const t of this.topics) q.append('topic', t);
    if (this.#ticket) q.set('ticket', this.#ticket);
    if (this.#lastId) q.set('lastEventId', this.#lastId);
    const query = q.toString();
    return joinPath(this.#o.base, this.#o.route) + (query ? `?${query}` : '');
  }

  #later(delay, reason) {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#open(reason), delay);
  }

  #drop() {
    clearTimeout(this.#timer);
    clearTimeout(this.#stable);
    this.#gen++;
    this.#es?.close();
    this.#es = null;
  }

  #end(reason, detail) {
    this.#closed = true;
    this.#drop();
    this.#setState('closed', reason, detail);
  }

  #setState(state, reason, detail = {}) {
    this.#state = state;
    call(this.#o.onState, state, reason, detail);
  }
}

// probe asks the stream URL for JSON: the service answers a refused request with its status
// and {"code","message"}. A 200 means it would now open, and the probe lets go at once.
async function probe(url, withCredentials) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), PROBE_TIMEOUT_MS);
  try {
    const resp = await fetch(url, {
      headers: { Accept: 'application/json' },
      credentials: withCredentials ? 'include' : 'same-origin',
      cache: 'no-store',
      signal: ctl.signal,
    });
    let body = null;
    if (resp.status === 200) ctl.abort();
    else body = await resp.json().catch(() => null);
    return {
      code: typeof body?.code === 'string' ? body.code : `http_${resp.status}`,
      message: typeof body?.message === 'string' ? body.message : `HTTP ${resp.status}`,
      status: resp.status,
    };
  } catch (err) {
    return { code: 'network', message: String(err?.message ?? err), status: 0 };
  } finally {
    clearTimeout(timer);
  }
}

// final reports whether a status says that trying again cannot help: a client error, but
// for a timeout and a rate limit (401 is final only without a ticket callback).
function final(status) {
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

// backoff is the wait before the nth retry: doubling from minDelay up to maxDelay, half of it
// random, so clients that failed together do not come back together.
function backoff(n, { minDelay = DEFAULTS.minDelay, maxDelay = DEFAULTS.maxDelay } = {}) {
  const cap = Math.min(maxDelay, minDelay * 2 ** Math.max(0, n - 1));
  return Math.round(cap / 2 + Math.random() * (cap / 2));
}

// isNotice reports whether data is the service's {"code","message","status"}.
function isNotice(data) {
  return typeof data?.code === 'string' && typeof data?.message === 'string' && typeof data?.status === 'number';
}

/**
 * topicOf tells which topic an event belongs to: a one-topic stream's only topic, or in a
 * multi-topic cursor ("a=<id>,b=<id>") the position that moved since the cursor before it.
 * When there is none to compare with (the first event of a fresh stream: EventSource does
 * not show the stream's opening position), it is the newest position, or a watched key's
 * value: its id is "0-<hash>", not a time, and the other keys are still at 0-0.
 */
export function topicOf(before, id, topics = []) {
  if (!id || !id.includes('=')) return topics.length === 1 ? topics[0] : undefined;
  const was = parseCursor(before);
  let topic;
  let newest;
  for (const [t, pos] of parseCursor(id)) {
    if (was.get(t) === pos) continue;
    if (/^0-[1-9]/.test(pos)) return t;
    if (newest === undefined || newer(pos, newest)) {
      topic = t;
      newest = pos;
    }
  }
  return topic;
}

function parseCursor(id) {
  const out = new Map();
  if (!id || !id.includes('=')) return out;
  for (const part of id.split(',')) {
    const i = part.indexOf('=');
    if (i > 0) out.set(part.slice(0, i), part.slice(i + 1));
  }
  return out;
}

// newer compares Redis Stream ids, "<ms>-<seq>".
function newer(a, b) {
  const [am, as] = a.split('-').map(Number);
  const [bm, bs] = b.split('-').map(Number);
  return am > bm || (am === bm && as > bs);
}

function joinPath(base, route) {
  const r = String(route).replace(/^\/+/, '');
  if (!base) return r;
  return String(base).endsWith('/') ? base + r : `${base}/${r}`;
}

// crossOrigin reports whether url leaves the page's origin: then EventSource sends cookies
// (the resume cookie, access_token) only with withCredentials.
function crossOrigin(url) {
  const here = globalThis.location;
  if (!here) return false;
  try {
    return new URL(url, globalThis.document?.baseURI ?? here.href).origin !== here.origin;
  } catch {
    return false;
  }
}

function parse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text; // not JSON: the text as it came
  }
}

// sessionStorage may be missing or refuse (storage off, quota): the cursor then lives in
// memory only.
function load(key) {
  if (!key) return null;
  try {
    return globalThis.sessionStorage?.getItem(key) ?? null;
  } catch {
    return null;
  }
}

function store(key, value) {
  if (!key) return;
  try {
    globalThis.sessionStorage?.setItem(key, value);
  } catch {
    // keep going without it
  }
}

// call runs a page's callback; what it throws is reported as uncaught, later, so that a bug
// in a callback does not stop the stream from being looked after.
function call(fn, ...args) {
  if (!fn) return;
  try {
    fn(...args);
  } catch (err) {
    setTimeout(() => { throw err; });
  }
}
