// Asks chat-relay for an answer, then follows the answer's topic on sse-api from its first
// event. EventSource resumes by itself after a drop (it sends Last-Event-ID), so the answer
// is shown whole, each token once. The answer's id is kept in the page's fragment: opening
// the link later shows the whole answer from the start.
'use strict';

const sseBase = document.querySelector('meta[name="sse-base"]').content;
const $ = (id) => document.getElementById(id);

// What the page received, for the browser tests: event ids, tokens, opens and the end.
window.__chat = null;
let source = null;

function setStatus(text, problem = false) {
  $('status').textContent = text;
  $('status').className = problem ? 'problem' : '';
}

function follow(topic) {
  if (source) source.close();
  const state = { topic, ids: [], tokens: [], opens: 0, drops: 0, resets: [], end: null };
  window.__chat = state;
  $('question').textContent = '';
  $('answer').textContent = '';
  const link = `${location.origin}${location.pathname}#${topic.slice('chat:'.length)}`;
  $('share').replaceChildren();
  const a = $('share').appendChild(document.createElement('a'));
  a.href = link;
  a.textContent = link;

  // lastEventId=0: from the topic's first event. A reconnect sends Last-Event-ID instead,
  // which the service prefers, so it goes on from the last event received.
  source = new EventSource(`${sseBase}/v1/events?topic=${encodeURIComponent(topic)}&lastEventId=0`);
  source.onopen = () => {
    state.opens++;
    setStatus(state.opens > 1 ? 'Reconnected, resuming…' : 'Answering…');
  };
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) {
      setStatus('The connection was refused.', true);
      return;
    }
    state.drops++;
    setStatus('Connection lost, reconnecting…', true);
  };
  source.addEventListener('question', (e) => {
    state.ids.push(e.lastEventId);
    $('question').textContent = JSON.parse(e.data).question;
  });
  source.addEventListener('message', (e) => {
    state.ids.push(e.lastEventId);
    const text = JSON.parse(e.data).choices?.[0]?.delta?.content;
    if (text) {
      state.tokens.push(text);
      $('answer').textContent += text;
    }
  });
  source.addEventListener('reset', (e) => {
    // The history no longer holds the start of this answer (older than History.TTL, or
    // longer than History.Size events).
    state.resets.push(JSON.parse(e.data));
    setStatus('The start of this answer is no longer kept.', true);
  });
  source.addEventListener('end', (e) => {
    state.ids.push(e.lastEventId);
    const { reason } = JSON.parse(e.data);
    state.end = reason;
    source.close();
    if (reason === 'done') setStatus('Done.');
    else if (reason === 'upstream-error') setStatus('The model broke off: the answer is incomplete.', true);
    else setStatus(`The answer ended early (${reason}).`, true);
  });
}

$('ask').addEventListener('submit', async (e) => {
  e.preventDefault();
  $('send').disabled = true;
  try {
    const resp = await fetch('v1/answers', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ question: $('q').value }),
    });
    const body = await resp.json();
    if (!resp.ok) {
      setStatus(body.message || `error ${resp.status}`, true);
      return;
    }
    history.replaceState(null, '', `#${body.topic.slice('chat:'.length)}`);
    follow(body.topic);
  } catch (err) {
    setStatus(`Could not ask: ${err.message}`, true);
  } finally {
    $('send').disabled = false;
  }
});

// A link to an answer (#<id>) shows it from the start.
const id = location.hash.slice(1);
if (/^[0-9a-f]{32}$/.test(id)) follow(`chat:${id}`);
