// How long a change Slurm shows takes to reach the browser, with 1, 50 and 500 live sessions on
// the local single-node Slurm: the proxy server (startProxyServer, as the CLI runs it) follows
// them with the slurm driver; a real Chromium holds an EventSource on {base}/api/events, on the
// proxy's own origin, as the extension does. A job is cancelled behind the server's back
// (scancel, then squeue confirms CA). Measured to the session's event in the page: from the change
// in Slurm (includes waiting for the next poll), from the driver's squeue call that returned it,
// and from the proxy's own `changed` event. squeue calls per poll are counted in the same run.
// Usage: node bench/slurm-events.mjs [--max 500] [--changes 9] [--interval 1000]
/* global window, EventSource, fetch -- fetch is Node's; the other two run in the page */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';
import { createDriver } from '../vk-bridge/dist/index.js';
import { startProxyServer, TokenAuthenticator } from '../proxy-server/dist/index.js';
import { createLogger } from '../proxy-server/dist/logging.js';
import { benchSite, median, startLocalSlurm, stepsUpTo } from './slurm-support.mjs';

const { values: args } = parseArgs({
  options: {
    max: { type: 'string', default: '500' },
    changes: { type: 'string', default: '9' },
    interval: { type: 'string', default: '1000' }
  }
});
const interval = Number(args.interval);
const steps = stepsUpTo(Number(args.max));
// wall-clock ms with sub-ms precision, comparable with the page's (same machine clock)
const now = () => performance.timeOrigin + performance.now();
const { conf, env } = startLocalSlurm();
const stateDir = mkdtempSync(path.join(tmpdir(), 'bench-slurm-events-'));
const site = benchSite(conf, 7200);
// the driver startProxyServer would create, made here to read its call counters
const driver = createDriver(site, { stateDir, pollIntervalMs: interval });
// when each of the driver's squeue calls returned: the moment the backend reported a change to us
const squeueDone = [];
const run = driver.run.bind(driver);
driver.run = async (cmd, argv, cwd) => {
  const out = await run(cmd, argv, cwd);
  if (cmd === 'squeue') squeueDone.push(now());
  return out;
};
const token = 'bench-token-0123456789abcdef';
const server = await startProxyServer({
  sites: [site],
  auth: new TokenAuthenticator(token, 'bench'),
  drivers: new Map([[site.id, driver]]),
  stateDir,
  logger: createLogger('warn')
});
const api = `${server.url}/interlink/api`;
const headers = { authorization: `token ${token}`, 'content-type': 'application/json' };

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run'
  ]
});
// Signed in as a browser is once it opened the printed URL: the API takes no ?token=.
const context = await browser.newContext();
await context.addCookies([{ name: 'interlink-token', value: token, url: server.url }]);
const page = await context.newPage();
await page.goto(`${server.url}/interlink/healthz`);
await page.evaluate(() => {
  window.seen = {};
  const source = new EventSource('/interlink/api/events');
  source.addEventListener('session', e => {
    const at = performance.timeOrigin + performance.now();
    const s = JSON.parse(e.data);
    if (s.state === 'failed' && !window.seen[s.id]) window.seen[s.id] = at;
  });
});

// the proxy's own event, in this process: splits backend → proxy from proxy → browser
const atProxy = new Map();
server.sessions.on('changed', s => {
  if (s.state === 'failed' && !atProxy.has(s.id)) atProxy.set(s.id, now());
});

const ids = [];
const live = [];
async function grow(n) {
  while (live.length < n) {
    const res = await fetch(`${api}/sessions`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        site: 'bench',
        profile: 'p',
        type: 'job',
        walltime: 7200,
        command: ['/bin/sleep', '7200']
      })
    });
    if (res.status !== 201) throw new Error(`launch: ${res.status} ${await res.text()}`);
    const { id } = await res.json();
    ids.push(id);
    live.push(id);
  }
}
const jobOf = async id =>
  (await (await fetch(`${api}/sessions/${id}`, { headers })).json()).backendId;

const rows = [];
const changes = Number(args.changes);
for (const n of steps) {
  // n live sessions while measuring: `changes` more, cancelled one by one
  await grow(n + changes);
  await sleep(interval * 3);
  const before = { ...driver.stats };
  const fromSqueue = [];
  const toBrowser = [];
  const total = [];
  for (let i = 0; i < changes; i++) {
    // the newest session: a queued job, so the two CPUs stay busy with the same jobs
    const id = live.pop();
    const job = await jobOf(id);
    // at a random point of the poll interval
    await sleep(Math.random() * interval);
    execFileSync('scancel', [job], { env });
    // slurmctld has changed the job's state when scancel returns; squeue confirms it
    const t0 = now();
    const state = execFileSync('squeue', ['-h', '-t', 'all', '-j', job, '-o', '%t'], { env })
      .toString()
      .trim();
    if (!/^(CA|CG)$/.test(state)) throw new Error(`squeue shows ${state} for cancelled ${job}`);
    let atPage;
    for (let w = 0; w < 200 && atPage === undefined; w++) {
      atPage = await page.evaluate(sid => window.seen[sid], id);
      if (atPage === undefined) await sleep(25);
    }
    if (atPage === undefined) throw new Error(`no event for ${id} in the page within 5 s`);
    const seenBy = squeueDone.filter(t => t <= atProxy.get(id)).at(-1);
    fromSqueue.push(atPage - seenBy);
    toBrowser.push(atPage - atProxy.get(id));
    total.push(atPage - t0);
  }
  const polls = driver.stats.polls - before.polls;
  rows.push({
    n,
    perPoll: (driver.stats.squeue - before.squeue) / Math.max(1, polls),
    fromSqueue,
    toBrowser,
    total
  });
}

console.log(
  `Slurm change → browser, poll interval ${interval} ms, ${args.changes} changes per step (${new Date().toISOString()})`
);
console.log(
  'sessions | squeue calls/poll | Slurm change → page ms (median, max) | our squeue returned → page ms (median, max) | proxy event → page ms (median, max)'
);
const mm = (xs, digits = 0) => `${median(xs).toFixed(digits)}, ${Math.max(...xs).toFixed(digits)}`;
for (const r of rows) {
  console.log(
    [r.n, r.perPoll.toFixed(2), mm(r.total), mm(r.fromSqueue, 1), mm(r.toBrowser, 1)].join(' | ')
  );
}

await browser.close();
for (let i = 0; i < ids.length; i += 20) {
  await Promise.all(
    ids
      .slice(i, i + 20)
      .map(id => fetch(`${api}/sessions/${id}`, { method: 'DELETE', headers }).then(r => r.text()))
  );
}
await server.close();
rmSync(stateDir, { recursive: true, force: true });
