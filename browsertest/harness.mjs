// What the browser scenarios stand on: the sse-api binary built from this tree, instances of
// it started from a config file on free ports, tokens minted with cmd/ssetoken, plain HTTP
// publishing, a sub-path proxy, and a headless Debian Chromium driven by playwright-core.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { chromium } from 'playwright-core';

const run = promisify(execFile);

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const screenshots = path.join(root, 'artifacts', 'screenshots');
export const redisAddr = process.env.REDIS_ADDR || '127.0.0.1:6379';
export const secret = 'browsertest-secret-0123456789';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sse-api-browsertest-'));
const bin = { api: path.join(work, 'sse-api'), token: path.join(work, 'ssetoken') };

/** removeWork deletes the binaries and configs of this run. */
export function removeWork() {
  fs.rmSync(work, { recursive: true, force: true });
}

/**
 * build compiles the service and the token tool from this tree. The service is built with
 * the race detector unless BROWSERTEST_RACE=0: real browsers make traffic no Go test makes,
 * and Instance.stop fails a scenario whose instance reported a race.
 */
export async function build() {
  const race = process.env.BROWSERTEST_RACE !== '0';
  const args = ['build', ...(race ? ['-race'] : []), '-o', bin.api, '.'];
  await run('go', args, { cwd: root, maxBuffer: 16 << 20 });
  await run('go', ['build', '-o', bin.token, './cmd/ssetoken'], { cwd: root, maxBuffer: 16 << 20 });
  return { race };
}

/** freePort asks the kernel for a port nobody listens on. */
export async function freePort() {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  srv.close();
  await once(srv, 'close');
  return port;
}

/** redisAnswers reports whether the real Redis at redisAddr answers PING. */
export async function redisAnswers() {
  const [host, port] = [redisAddr.slice(0, redisAddr.lastIndexOf(':')), Number(redisAddr.slice(redisAddr.lastIndexOf(':') + 1))];
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const timer = setTimeout(() => { sock.destroy(); resolve(false); }, 2000);
    sock.on('error', () => { clearTimeout(timer); resolve(false); });
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => { clearTimeout(timer); sock.destroy(); resolve(d.toString().startsWith('+PONG')); });
  });
}

/** randomName returns prefix with a random suffix, so runs sharing one Redis never meet. */
export function randomName(prefix) {
  return prefix + Math.random().toString(36).slice(2, 10);
}

/**
 * renderConfig fills in the instance config template that the Go tests and the load tool
 * start their instances from (internal/testinstance/instance.yaml), by the rule written in
 * internal/testinstance/config.go: {{Name}} takes the value given, {{Name=default}} the value
 * or else the default; values go in as they are, spanning lines only where the placeholder
 * is a line of its own; a value for a name the template lacks is an error.
 */
export function renderConfig(values) {
  const text = fs.readFileSync(path.join(root, 'internal', 'testinstance', 'instance.yaml'), 'utf8');
  const unused = new Set(Object.keys(values).filter((name) => values[name] !== undefined));
  const out = text.replace(/\{\{(\w+)(=[^}\n]*)?\}\}/g, (whole, name, def, at) => {
    const given = values[name] !== undefined;
    unused.delete(name);
    if (!given && def === undefined) throw new Error(`config template: no value for ${name}`);
    const value = given ? String(values[name]) : def.slice(1);
    const alone = (at === 0 || text[at - 1] === '\n') && (text[at + whole.length] ?? '\n') === '\n';
    if (/[\r\n]/.test(value) && !alone) throw new Error(`config template: the value of ${name} spans lines`);
    return value;
  });
  if (unused.size) throw new Error(`config template: no placeholder ${[...unused].sort().join(', ')}`);
  return out;
}

/**
 * testConfig is a config for one instance on the real Redis (REDIS_ADDR, or redis: a server
 * of the scenario's own). Retry and Heartbeat are short so reconnects and heartbeats happen
 * within a test's patience; Timeout is short so that a stream outliving it proves it is
 * exempt from go-zero's timeout. What is not given here takes the template's default.
 */
export function testConfig({
  port, devPort, qrTTL, qrAutoExchange, basePath, resumeCookiePath, ticketTTL, resumeTTL, maxStreamsPerUser = 1000, extra = '',
  redis = redisAddr, publicTopics = ['public:*'],
}) {
  return renderConfig({
    Name: 'sse-api-browsertest',
    Port: port,
    DevPort: devPort,
    Timeout: 1000,
    Secret: secret,
    TicketTTL: ticketTTL,
    ResumeTTL: resumeTTL,
    ResumeCookiePath: resumeCookiePath,
    RedisAddr: redis,
    Heartbeat: '300ms',
    Retry: '200ms',
    PublicTopics: JSON.stringify(publicTopics),
    MaxStreamsPerUser: maxStreamsPerUser,
    AnonymousPerMinute: 10000,
    QRTTL: qrTTL,
    QRBasePath: basePath,
    QRContent: `http://127.0.0.1:${port}/phone.html?id={id}&key={key}`,
    QRCreatePerMinute: 1000,
    QRMissesPerMinute: 1000,
    QRScansPerMinute: 1000,
    QRAutoExchange: qrAutoExchange,
    // The browsers send X-Forwarded-For (see newPage), so that the per-address limits count
    // this run's requests under an address of its own, not with other tests' 127.0.0.1 in a
    // shared Redis.
    Extra: `TrustedProxies: ["127.0.0.1"]\n${extra}`,
  });
}

/**
 * shippedConfig is etc/sse-api.yaml as shipped (embedded Redis, demo mint on), moved to free
 * ports on the loopback interface: what a newcomer's `go run .` serves.
 */
export function shippedConfig({ port, devPort }) {
  const text = fs.readFileSync(path.join(root, 'etc', 'sse-api.yaml'), 'utf8');
  const moved = text
    .replace(/^Host: .*$/m, 'Host: 127.0.0.1')
    .replace(/^Port: 8888$/m, `Port: ${port}`)
    .replace(/^(DevServer:\n(?:[ \t]+.*\n)*?)[ \t]+Port: 6060$/m, `$1  Host: 127.0.0.1\n  Port: ${devPort}`);
  if (!moved.includes(`Port: ${port}`) || !moved.includes(`Port: ${devPort}`)) {
    throw new Error('etc/sse-api.yaml no longer has "Port: 8888" and a DevServer "Port: 6060" to move');
  }
  return moved;
}

// What sseapi.go prints right before the API opens its listener, and what the race detector
// prints: both watched as the lines pass (as internal/testinstance does).
const STARTED_LINE = 'Starting server at ';
const RACE_LINE = 'WARNING: DATA RACE';
const KEEP_LINES = 5000;

/** One running sse-api process, restartable on the same ports. */
export class Instance {
  constructor(name, config, { port, devPort }) {
    this.name = name;
    this.port = port;
    this.devPort = devPort;
    this.base = `http://127.0.0.1:${port}`;
    this.dev = `http://127.0.0.1:${devPort}`;
    this.configPath = path.join(work, `${name}.yaml`);
    fs.writeFileSync(this.configPath, config, { mode: 0o600 });
    this.proc = null;
    this.lines = [];
    this.raced = false;
  }

  /**
   * start runs the binary and waits until it serves: it said it is starting, both ports
   * accept connections, and its health check (Redis answers) passes.
   */
  async start() {
    let started;
    const saidStarted = new Promise((resolve) => { started = resolve; });
    this.proc = spawn(bin.api, ['-f', this.configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    for (const output of [this.proc.stdout, this.proc.stderr]) {
      readline.createInterface({ input: output, crlfDelay: Infinity }).on('line', (line) => {
        this.lines.push(line);
        if (this.lines.length > KEEP_LINES) this.lines.splice(0, this.lines.length - KEEP_LINES);
        if (line.includes(STARTED_LINE)) started();
        if (line.includes(RACE_LINE)) this.raced = true;
      });
    }
    // 'close': the process has exited and its output is all read.
    this.exited = once(this.proc, 'close').then(([code]) => ({ code }));
    const deadline = Date.now() + 30_000;
    let timer;
    const timeout = new Promise((resolve) => { timer = setTimeout(resolve, 30_000, 'timeout'); });
    const first = await Promise.race([this.exited, saidStarted, timeout]);
    clearTimeout(timer);
    if (first === 'timeout') throw new Error(`${this.name} did not start:\n${this.logs()}`);
    if (first) throw new Error(`${this.name} exited at start (code ${first.code}):\n${this.logs()}`);
    for (const port of [this.port, this.devPort]) {
      if (!await this.#accepting(port, deadline)) throw new Error(`${this.name}: port ${port} does not accept:\n${this.logs()}`);
    }
    // Ready, not just up: the health check passes once Redis and the pub/sub link answer,
    // which may take a moment after the listener opens (as internal/testinstance's WaitReady).
    for (;;) {
      const health = await fetch(`${this.dev}/healthz`);
      if (health.status === 200) return this;
      const why = `${health.status} ${await health.text()}`;
      if (Date.now() > deadline) throw new Error(`${this.name} health check: ${why}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /**
   * #accepting waits until port accepts a connection. The started line comes right before
   * the listener opens and nothing is printed after, so the port is all there is to wait
   * on, for milliseconds: a refusal comes back at once and is retried, up to deadline.
   */
  async #accepting(port, deadline) {
    while (Date.now() < deadline && this.proc.exitCode === null && this.proc.signalCode === null) {
      const ok = await new Promise((resolve) => {
        const sock = net.connect({ host: '127.0.0.1', port });
        sock.on('connect', () => { sock.destroy(); resolve(true); });
        sock.on('error', () => resolve(false));
      });
      if (ok) return true;
      await new Promise((r) => setTimeout(r, 5));
    }
    return false;
  }

  /** stop ends the process (SIGKILL: like a crash, streams cut with no goodbye). */
  async stop(signal = 'SIGKILL') {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill(signal);
    await this.exited;
    this.checkRaces();
  }

  /** checkRaces throws if the race detector reported anything. */
  checkRaces() {
    if (this.raced) {
      throw new Error(`${this.name}: the race detector reported a data race:\n${this.logs()}`);
    }
  }

  /** logs is the process's output, its last lines. */
  logs() {
    return this.lines.join('\n');
  }

  /** token mints an access token with this instance's secret, as `make token` does. */
  async token(uid, { publish = [], subscribe = [] } = {}) {
    const { stdout } = await run(bin.token, ['-f', this.configPath, '-uid', uid,
      '-publish', publish.join(','), '-subscribe', subscribe.join(',')]);
    return stdout.trim();
  }

  /** publish sends one event over plain HTTP, as curl would, and returns its id. */
  async publish(token, topic, data, event) {
    const resp = await fetch(`${this.base}/v1/topics/${encodeURIComponent(topic)}/events`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(event ? { event, data } : { data }),
    });
    const body = await resp.json();
    if (resp.status !== 201) throw new Error(`publish to ${topic}: ${resp.status} ${JSON.stringify(body)}`);
    return body.id;
  }
}

/**
 * startInstance writes a config made by makeConfig({port, devPort}) for a new instance on the
 * given (or free) ports, starts it, and leaves it to the runner to stop after the scenario.
 */
export async function startInstance(ctx, name, makeConfig, ports) {
  const p = ports ?? { port: await freePort(), devPort: await freePort() };
  const inst = new Instance(name, makeConfig(p), p);
  ctx.instances.push(inst);
  return inst.start();
}

/**
 * subPathProxy serves upstream under prefix ("/sse"), as a reverse proxy mounting the
 * service on a sub-path does: the prefix is stripped on the way in, nothing is buffered (so
 * streams stream), and anything outside the prefix is 404.
 */
export async function subPathProxy(prefix, upstream) {
  const up = new URL(upstream);
  const server = http.createServer((req, res) => {
    if (!req.url.startsWith(`${prefix}/`)) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('outside the proxied prefix');
      return;
    }
    const out = http.request({
      host: up.hostname, port: up.port, method: req.method, path: req.url.slice(prefix.length),
      headers: { ...req.headers, host: up.host },
    }, (upRes) => {
      res.writeHead(upRes.statusCode, upRes.headers);
      res.flushHeaders();
      upRes.pipe(res);
    });
    out.on('error', () => res.destroy());
    res.on('close', () => out.destroy());
    req.pipe(out);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${server.address().port}${prefix}/`, close: () => server.close() };
}

/**
 * launchBrowser starts Debian's Chromium, headless. The background-networking flags keep it
 * from calling home, which this machine's closed network refuses (and slowly).
 */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-default-apps', '--disable-extensions', '--metrics-recording-only',
      '--disable-dev-shm-usage',
    ],
  });
}

/**
 * clientAddress is an address from TEST-NET-2 (RFC 5737) that a scenario's browsers claim to
 * come from, through X-Forwarded-For only: nothing is ever sent to it.
 */
export function clientAddress() {
  return `198.51.100.${1 + Math.floor(Math.random() * 254)}`;
}

/**
 * newPage opens a page in a fresh context (its own cookies) that counts the EventSource
 * objects the page creates, in window.__eventSources, so a test can tell the browser's own
 * reconnects from a page making a new EventSource, and see that a page closed its streams.
 * Page errors and console errors fail the scenario through ctx.problems.
 */
export async function newPage(ctx, browser, contextOptions = {}) {
  const context = await browser.newContext({
    viewport: { width: 1100, height: 900 },
    extraHTTPHeaders: { 'X-Forwarded-For': ctx.clientAddr },
    ...contextOptions,
  });
  ctx.cleanups.push(() => context.close());
  // Every wait in the scenarios is for something that takes well under a second; a missing
  // step should fail the scenario soon, not at Playwright's 30 s default.
  context.setDefaultTimeout(15_000);
  await context.addInitScript(() => {
    const Native = window.EventSource;
    window.__eventSources = [];
    window.EventSource = class extends Native {
      constructor(...args) {
        super(...args);
        window.__eventSources.push(this);
      }
    };
  });
  const page = await context.newPage();
  ctx.pages.push(page);
  page.on('pageerror', (err) => ctx.problems.push(`page error on ${page.url()}: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !ctx.expectedConsoleErrors.some((re) => re.test(msg.text()))) {
      ctx.problems.push(`console error on ${page.url()}: ${msg.text()}`);
    }
  });
  return page;
}

/** shot saves a full-page screenshot under artifacts/screenshots/. */
export async function shot(page, name) {
  fs.mkdirSync(screenshots, { recursive: true });
  const file = path.join(screenshots, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** assert throws with message unless ok. */
export function assert(ok, message) {
  if (!ok) throw new Error(message);
}

/** assertEqual compares as JSON, which is what the scenarios compare (lists of ids). */
export function assertEqual(got, want, what) {
  const g = JSON.stringify(got);
  const w = JSON.stringify(want);
  if (g !== w) throw new Error(`${what}:\n  got  ${g}\n  want ${w}`);
}
