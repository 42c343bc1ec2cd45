// A stream read in the page with fetch and a ReadableStream, as libraries that need headers
// do (Authorization, here), sending `Accept: */*` instead of EventSource's
// `Accept: text/event-stream`: the stream must outlive the service's request Timeout all the
// same, and resume with ?lastEventId= with nothing missed or repeated.
import { assert, assertEqual, newPage, randomName, startInstance, testConfig } from '../harness.mjs';

/**
 * installReader defines window.__startReader(name, url, token) in the page: a reader that
 * parses the stream by the WHATWG event-stream rules (lines end at CRLF, LF or CR; one space
 * after the colon is dropped; an id is adopted at the blank line that ends its block; a
 * block without data dispatches nothing) into window.__readers[name].
 */
function installReader() {
  window.__readers = {};
  window.__startReader = (name, url, token) => {
    const st = { events: [], comments: 0, lastId: '', positioned: false, retry: null, status: 0, contentType: '', ended: false, error: null };
    const ctl = new AbortController();
    st.abort = () => ctl.abort();
    window.__readers[name] = st;
    let data = [];
    let type = '';
    let idBuffer = '';
    const line = (text) => {
      if (text === '') {
        st.lastId = idBuffer;
        if (idBuffer) st.positioned = true;
        if (data.length) st.events.push({ id: st.lastId, type: type || 'message', data: data.join('\n') });
        data = [];
        type = '';
        return;
      }
      if (text.startsWith(':')) {
        st.comments++;
        return;
      }
      const colon = text.indexOf(':');
      const field = colon < 0 ? text : text.slice(0, colon);
      let value = colon < 0 ? '' : text.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') data.push(value);
      else if (field === 'event') type = value;
      else if (field === 'id' && !value.includes('\0')) idBuffer = value;
      else if (field === 'retry' && /^\d+$/.test(value)) st.retry = Number(value);
    };
    (async () => {
      const resp = await fetch(url, { headers: { Accept: '*/*', Authorization: `Bearer ${token}` }, signal: ctl.signal });
      st.status = resp.status;
      st.contentType = resp.headers.get('Content-Type');
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        for (;;) {
          const i = buf.search(/[\r\n]/);
          // A CR at the end of what has arrived may be the first half of a CRLF.
          if (i < 0 || (buf[i] === '\r' && i === buf.length - 1)) break;
          line(buf.slice(0, i));
          buf = buf.slice(buf[i] === '\r' && buf[i + 1] === '\n' ? i + 2 : i + 1);
        }
      }
      st.ended = true;
    })().catch((err) => {
      if (err.name !== 'AbortError') st.error = String(err);
      st.ended = true;
    });
  };
}

const reader = (page, name) => page.evaluate((n) => {
  const { abort, ...rest } = window.__readers[n];
  return rest;
}, name);

const eventsOf = async (page, name, n) => {
  await page.waitForFunction(([r, want]) => window.__readers[r].events.length >= want || window.__readers[r].ended, [name, n]);
  const st = await reader(page, name);
  assert(!st.ended && !st.error, `reader ${name} ended early (status ${st.status}, error ${st.error})`);
  return st.events;
};

export default [
  {
    name: 'fetch reader with Accept: */* outlives the request Timeout and resumes with lastEventId',
    slug: 'fetch-reader',
    async run(ctx) {
      // testConfig has Timeout 1000 ms and heartbeats every 300 ms.
      const svc = await startInstance(ctx, 'fetch', testConfig);
      const topic = randomName('demo:bt-');
      const token = await svc.token('erin', { publish: ['demo:*'], subscribe: ['demo:*'] });
      const page = await newPage(ctx, ctx.browser);
      const streams = [];
      page.on('request', (r) => { if (new URL(r.url()).pathname === '/v1/events') streams.push(r); });
      await page.goto(`${svc.base}/console.html`);
      await page.evaluate(installReader);

      const url = `v1/events?topic=${encodeURIComponent(topic)}`;
      await page.evaluate(([u, t]) => window.__startReader('first', u, t), [url, token]);
      await page.waitForFunction(() => window.__readers.first.positioned || window.__readers.first.ended);
      let st = await reader(page, 'first');
      assertEqual([st.status, st.contentType, st.retry], [200, 'text/event-stream', 200], 'status, Content-Type and retry of the stream');

      const ids = [];
      for (let seq = 1; seq <= 3; seq++) ids.push(await svc.publish(token, topic, { seq }));
      await eventsOf(page, 'first', 3);

      // Five more heartbeats take 1.5 s, past the 1 s Timeout that would end a plain request.
      const beats = st.comments;
      await page.waitForFunction((b) => window.__readers.first.comments >= b + 5 || window.__readers.first.ended, beats);
      ids.push(await svc.publish(token, topic, { seq: 4 }));
      const first = await eventsOf(page, 'first', 4);
      st = await reader(page, 'first');
      await page.evaluate(() => window.__readers.first.abort());

      for (let seq = 5; seq <= 7; seq++) ids.push(await svc.publish(token, topic, { seq }));
      assertEqual(st.lastId, ids[3], 'last id the first reader saw');
      await page.evaluate(([u, t]) => window.__startReader('second', u, t),
        [`${url}&lastEventId=${encodeURIComponent(st.lastId)}`, token]);
      const second = await eventsOf(page, 'second', 3);

      const all = [...first, ...second];
      assertEqual(all.map((e) => JSON.parse(e.data).seq), [1, 2, 3, 4, 5, 6, 7], 'sequence numbers read');
      assertEqual(all.map((e) => e.id), ids, 'event ids read');
      assertEqual(streams.length, 2, 'stream requests');
      for (const r of streams) {
        assertEqual((await r.allHeaders()).accept, '*/*', 'Accept of a fetch stream request');
      }
    },
  },
];
