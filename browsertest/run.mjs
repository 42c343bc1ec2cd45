// Runs the real-browser scenarios: `node browsertest/run.mjs [name filter...]`.
// It builds sse-api from this tree, starts the instances each scenario needs (on free ports,
// with the real Redis at REDIS_ADDR), drives headless Chromium through them, saves
// screenshots under artifacts/screenshots/, and ends with "N passed, N failed" (exit 1 on
// any failure).
import {
  build, clientAddress, launchBrowser, redisAddr, redisAnswers, removeWork, root, screenshots, shot,
} from './harness.mjs';
import qr from './scenarios/qr.mjs';
import topics from './scenarios/console.mjs';
import reader from './scenarios/fetchreader.mjs';
import subpath from './scenarios/subpath.mjs';
import http2 from './scenarios/http2.mjs';
import client from './scenarios/client.mjs';
import watch from './scenarios/watch.mjs';
import chatrelay from './scenarios/chatrelay.mjs';

const scenarios = [...qr, ...topics, ...reader, ...subpath, ...http2, ...client, ...watch, ...chatrelay];
const SCENARIO_TIMEOUT_MS = 60_000;

// undo runs a scenario's cleanups (closing its browser contexts, proxies), newest first, once.
async function undo(ctx) {
  while (ctx.cleanups.length) {
    await Promise.resolve().then(ctx.cleanups.pop()).catch(() => {});
  }
}

const filters = process.argv.slice(2);
const chosen = scenarios.filter((s) => filters.length === 0 || filters.some((f) => s.name.includes(f)));

const started = Date.now();
const elapsed = (t) => `${((Date.now() - t) / 1000).toFixed(1)}s`;

if (!(await redisAnswers())) {
  console.error(`browsertest: no Redis answers at ${redisAddr} (REDIS_ADDR); the scenarios need the real one`);
  console.log(`0 passed, ${chosen.length} failed`);
  process.exit(1);
}

const { race } = await build();
console.log(`browsertest: built sse-api${race ? ' with -race' : ''} in ${elapsed(started)}; ${chosen.length} scenarios`);
const browser = await launchBrowser();
console.log(`browsertest: Chromium ${browser.version()}`);

let passed = 0;
let failed = 0;
for (const scenario of chosen) {
  const t = Date.now();
  // What a scenario registers to be undone, and the page problems it must not have.
  const ctx = {
    browser, cleanups: [], instances: [], problems: [], expectedConsoleErrors: [], pages: [], clientAddr: clientAddress(),
  };
  let timer;
  try {
    await Promise.race([
      scenario.run(ctx),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${SCENARIO_TIMEOUT_MS / 1000}s`)), SCENARIO_TIMEOUT_MS);
      }),
    ]);
    await undo(ctx);
    // Stopping checks each instance's log for races; a race fails the scenario.
    for (const inst of ctx.instances) await inst.stop();
    if (ctx.problems.length) throw new Error(ctx.problems.join('\n'));
    passed++;
    console.log(`ok   ${scenario.name} (${elapsed(t)})`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${scenario.name} (${elapsed(t)})\n  ${String(err.stack || err).replace(/\n/g, '\n  ')}`);
    for (const [i, page] of ctx.pages.entries()) {
      await shot(page, `FAILED-${scenario.slug}-${i}`).catch(() => {});
    }
    for (const inst of ctx.instances) {
      console.log(`  --- last log lines of ${inst.name}:\n  ${inst.logs().split('\n').slice(-30).join('\n  ')}`);
    }
  } finally {
    clearTimeout(timer);
    await undo(ctx);
    for (const inst of ctx.instances) await inst.stop().catch(() => {});
  }
}

await browser.close();
removeWork();
console.log(`browsertest: screenshots in ${screenshots.slice(root.length + 1)}/; total ${elapsed(started)}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 || chosen.length === 0 ? 1 : 0);
