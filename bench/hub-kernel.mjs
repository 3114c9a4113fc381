// Kernel round trip on the hub path: a trivial execute (`pass`), N times in a row over the
// kernel's WebSocket, from the client through configurable-http-proxy, the service (the proxy
// server under JupyterHub 6, authenticated by a hub API token), the tunnel and the agent to the
// session's jupyter_server; against straight to a jupyter_server of the same kind started the
// way the agent starts it, alternating runs in the same process.
// Usage: node bench/hub-kernel.mjs [--n 1000] [--rounds 3] [--warmup 50]
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout } from 'node:timers';
import { parseArgs } from 'node:util';

const { fetch } = globalThis;
import { startHub } from '../proxy-server/dist/testing/jupyterhub.js';
import { KernelClient, startKernel } from '../proxy-server/dist/testing/kernel-client.js';
import { fmt, median, percentile } from './tunnel-support/common.mjs';
import { jupyter } from './tunnel-support/servers.mjs';

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '50' }
  }
});
const N = Number(args.n);
const ROUNDS = Number(args.rounds);
const WARMUP = Number(args.warmup);

async function run(wsUrl, headers) {
  const kernel = await KernelClient.connect(wsUrl, headers);
  for (let i = 0; i < WARMUP; i++) await kernel.execute('pass');
  const times = [];
  for (let i = 0; i < N; i++) {
    const t0 = process.hrtime.bigint();
    const r = await kernel.execute('pass');
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (r.status !== 'ok') throw new Error(`execute failed: ${r.status}`);
  }
  kernel.close();
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}

const dir = mkdtempSync(path.join(tmpdir(), 'interlink-bench-hub-'));
const cleanup = [];
try {
  const hub = await startHub({ users: ['alice'] });
  cleanup.push(() => hub.stop());
  const token = await hub.userToken('alice');
  const auth = { authorization: `token ${token}` };
  const api = `${hub.url}${hub.base}/api`;
  const created = await fetch(`${api}/sessions`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ site: 'local', profile: 'small', type: 'kernel', walltime: 3600 })
  });
  if (created.status !== 201) throw new Error(`launch: ${created.status} ${await created.text()}`);
  let session = await created.json();
  cleanup.push(() =>
    fetch(`${api}/sessions/${session.id}`, { method: 'DELETE', headers: auth }).then(() => {})
  );
  const deadline = Date.now() + 120_000;
  while (session.state !== 'ready') {
    if (session.state === 'failed' || Date.now() > deadline)
      throw new Error(`session not ready: ${JSON.stringify(session)}`);
    await new Promise(r => setTimeout(r, 300));
    session = await (await fetch(`${api}/sessions/${session.id}`, { headers: auth })).json();
  }
  const remote = { baseUrl: `${hub.url}${session.url}`, headers: auth };
  const hubKernel = await startKernel(remote);

  const base = '/straight/';
  const jp = await jupyter(dir, base);
  cleanup.push(() => jp.stop());
  const straightAuth = { authorization: `token ${jp.token}` };
  const straight = {
    baseUrl: `http://127.0.0.1:${jp.endpoint.port}${base}`,
    headers: straightAuth
  };
  const straightKernel = await startKernel(straight);

  const ws = (s, id) => `${s.baseUrl.replace(/^http/, 'ws')}api/kernels/${id}/channels`;
  const paths = {
    straight: { url: ws(straight, straightKernel), headers: straightAuth },
    hub: { url: ws(remote, hubKernel), headers: { ...auth, origin: hub.url } }
  };
  const results = { straight: [], hub: [] };
  for (let r = 0; r < ROUNDS; r++) {
    const order = Object.keys(paths);
    if (r % 2) order.reverse();
    for (const name of order) {
      const res = await run(paths[name].url, paths[name].headers);
      results[name].push(res);
      console.error(`round ${r + 1} ${name}: p50 ${fmt(res.p50)} ms, p99 ${fmt(res.p99)} ms`);
    }
  }
  const med = (name, key) => median(results[name].map(x => x[key]));
  console.log(
    `\nKernel round trip on the hub path (execute "pass"), ${N} per run after ${WARMUP} warm-ups, ${ROUNDS} alternating rounds, medians; ${cpus().length} × ${cpus()[0].model}`
  );
  console.log('| path | p50 ms | p99 ms |');
  console.log('| --- | --- | --- |');
  console.log(
    `| straight to a NODELAY jupyter_server | ${fmt(med('straight', 'p50'))} | ${fmt(med('straight', 'p99'))} |`
  );
  console.log(
    `| configurable-http-proxy + service + tunnel + agent | ${fmt(med('hub', 'p50'))} | ${fmt(med('hub', 'p99'))} |`
  );
  console.log(
    `\np50 ratio hub/straight = ${fmt(med('hub', 'p50') / med('straight', 'p50'))}  (target ≤ 1.15)`
  );
  console.log(
    `p99 ratio hub/straight = ${fmt(med('hub', 'p99') / med('straight', 'p99'))}  (target ≤ 1.25)`
  );
} finally {
  for (const f of cleanup.reverse()) await f().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}
