// Helpers shared by the demo pages. Every URL is relative to the page, so the pages work
// when a proxy serves the service under a sub-path (https://example.com/sse/ -> sse-api /).

/** @returns {HTMLElement} the element with id, which the page must have. */
export function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page has no #${id}`);
  return el;
}

/** An error answer of the service: {"code", "message"} with its HTTP status. */
export class APIError extends Error {
  constructor(status, code, message) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

/**
 * Calls the service. path is relative ("v1/tickets"); body, when given, is sent as JSON;
 * token, when given, as a Bearer token. Resolves to the decoded JSON answer (or null).
 */
export async function api(path, { method = 'GET', token, body } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const resp = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  const text = await resp.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // a proxy's HTML error page, say: keep the status
  }
  if (!resp.ok) {
    throw new APIError(resp.status, json?.code, json?.message || `${resp.status} ${resp.statusText}`);
  }
  return json;
}

/**
 * The claims of a JWT, decoded without checking the signature: the page only shows them,
 * the service checks them.
 */
export function jwtClaims(token) {
  const part = token.split('.')[1];
  if (!part) throw new Error('not a JWT');
  const b64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=');
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

/** Sets an element's text and its tone (ok, warn, bad or none) for colour and tests. */
export function say(el, text, tone = '') {
  el.textContent = text;
  if (tone) el.dataset.tone = tone;
  else delete el.dataset.tone;
}

/** Formats a duration in ms as m:ss, never negative. */
export function mmss(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

// tokenPanel is the token panel every page that needs a token has, by its element ids.
function tokenPanel() {
  return {
    form: $('demo-form'),
    user: $('demo-user'),
    pasteForm: $('paste-form'),
    paste: $('paste-token'),
    status: $('account-status'),
  };
}

/**
 * Wires the "your account" block that the phone and the console share: a demo token for a
 * named demo user (POST v1/demo/token, which exists only when the server's Demo.Enabled is
 * on), or a pasted token (from `go run ./cmd/ssetoken`). onToken(token, claims) is called
 * with each new token.
 */
export function tokenPicker(onToken, { form, user, pasteForm, paste, status } = tokenPanel()) {
  const use = (token, how) => {
    let claims;
    try {
      claims = jwtClaims(token);
    } catch {
      say(status, 'That is not a token (expected a JWT).', 'bad');
      return;
    }
    if (!claims.uid) {
      say(status, 'That token has no uid claim.', 'bad');
      return;
    }
    const until = claims.exp ? ` until ${new Date(claims.exp * 1000).toLocaleTimeString()}` : '';
    say(status, `Signed in as ${claims.uid} (${how}${until}).`, 'ok');
    status.dataset.uid = claims.uid;
    onToken(token, claims);
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    say(status, 'Getting a demo token…');
    try {
      const resp = await api('v1/demo/token', { method: 'POST', body: { user: user.value.trim() } });
      use(resp.token, 'demo token');
    } catch (err) {
      if (err.status === 404) {
        say(status, 'This server has no demo tokens (Demo.Enabled is off). Paste a token made with ' +
          '`go run ./cmd/ssetoken -f <config> -uid <name> -publish "demo:*" -subscribe "demo:*"`.', 'bad');
      } else {
        say(status, `No demo token: ${err.message}`, 'bad');
      }
    }
  });
  pasteForm.addEventListener('submit', (e) => {
    e.preventDefault();
    use(paste.value.trim(), 'pasted token');
  });
}
