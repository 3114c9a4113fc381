// Kernel round trip through the product's two front doors: a trivial execute (`pass`), N times in
// a row over the kernel's WebSocket, to a local session's jupyter_server through
//   standalone: `jupyter lab` with the wheel (.venv), its server extension authenticating the
//               user and splicing the WebSocket to the Node service, the tunnel and the agent;
//   hub:        configurable-http-proxy, the service (the proxy server under JupyterHub 6,
//               authenticated by a hub API token), the tunnel and the agent;
// against straight to a jupyter_server of the same kind started the way the agent starts it,
// alternating runs in the same process.
// Usage: node bench/front-door-kernel.mjs [--n 1000] [--rounds 3] [--warmup 50]
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout } from 'node:timers';
import { parseArgs } from 'node:util';

const { fetch } = globalThis;
import { startHub } from '../proxy-server/dist/testing/jupyterhub.js';
import { startLab } from '../proxy-server/dist/testing/jupyter-lab.js';
import { startKernel } from '../proxy-server/dist/testing/kernel-client.js';
import { fmt, kernelRoundTrips, median } from './tunnel-support/common.mjs';
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

/** A ready local session behind one front door; its remote kernel's WebSocket URL. */
async function sessionKernel({ url, api, auth }, cleanup) {
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
  const remote = { baseUrl: `${url}${session.url}`, headers: auth };
  const kernel = await startKernel(remote);
  return { url: ws(remote, kernel), headers: { ...auth, origin: url } };
}

const ws = (s, id) => `${s.baseUrl.replace(/^http/, 'ws')}api/kernels/${id}/channels`;

const dir = mkdtempSync(path.join(tmpdir(), 'interlink-bench-front-door-'));
const cleanup = [];
try {
  const lab = await startLab(path.join(dir, 'lab'));
  cleanup.push(() => lab.stop());
  const standalone = await sessionKernel(
    {
      url: lab.url,
      api: `${lab.url}/interlink/api`,
      auth: { authorization: `token ${lab.token}` }
    },
    cleanup
  );

  const hub = await startHub({ users: ['alice'] });
  cleanup.push(() => hub.stop());
  const token = await hub.userToken('alice');
  const hubAuth = { authorization: `token ${token}` };
  const hubPath = await sessionKernel(
    { url: hub.url, api: `${hub.url}${hub.base}/api`, auth: hubAuth },
    cleanup
  );

  const base = '/straight/';
  const jp = await jupyter(dir, base);
  cleanup.push(() => jp.stop());
  const straightAuth = { authorization: `token ${jp.token}` };
  const straight = {
    baseUrl: `http://127.0.0.1:${jp.endpoint.port}${base}`,
    headers: straightAuth
  };
  const straightKernel = await startKernel(straight);

  const paths = {
    straight: { url: ws(straight, straightKernel), headers: straightAuth },
    standalone,
    hub: hubPath
  };
  const results = { straight: [], standalone: [], hub: [] };
  for (let r = 0; r < ROUNDS; r++) {
    const order = Object.keys(paths);
    if (r % 2) order.reverse();
    for (const name of order) {
      const res = await kernelRoundTrips(paths[name].url, paths[name].headers, N, WARMUP);
      results[name].push(res);
      console.error(`round ${r + 1} ${name}: p50 ${fmt(res.p50)} ms, p99 ${fmt(res.p99)} ms`);
    }
  }
  const med = (name, key) => median(results[name].map(x => x[key]));
  console.log(
    `\nKernel round trip through the front doors (execute "pass"), ${N} per run after ${WARMUP} warm-ups, ${ROUNDS} alternating rounds, medians; ${cpus().length} × ${cpus()[0].model}`
  );
  console.log('| path | p50 ms | p99 ms |');
  console.log('| --- | --- | --- |');
  console.log(
    `| straight to a NODELAY jupyter_server | ${fmt(med('straight', 'p50'))} | ${fmt(med('straight', 'p99'))} |`
  );
  console.log(
    `| standalone: jupyter lab + service + tunnel + agent | ${fmt(med('standalone', 'p50'))} | ${fmt(med('standalone', 'p99'))} |`
  );
  console.log(
    `| hub: configurable-http-proxy + service + tunnel + agent | ${fmt(med('hub', 'p50'))} | ${fmt(med('hub', 'p99'))} |`
  );
  for (const door of ['standalone', 'hub']) {
    console.log(
      `\n${door}/straight: p50 ${fmt(med(door, 'p50') / med('straight', 'p50'))} (target ≤ 1.15), ` +
        `p99 ${fmt(med(door, 'p99') / med('straight', 'p99'))} (target ≤ 1.25)`
    );
  }
} finally {
  for (const f of cleanup.reverse()) await f().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}
