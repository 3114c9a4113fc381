// Kernel round trip: a trivial execute (`pass`), N times in a row over the kernel's WebSocket,
// through proxy + tunnel + agent vs straight to the same TCP_NODELAY jupyter_server, alternating
// runs. For context it also times a few hundred executes through `ssh -N -L` to that server and
// straight to a stock server (Nagle left on), the paths users have today.
// --websocket adds the tunnel over its WebSocket fallback (a second proxy + agent, same kernel).
// Usage: node bench/tunnel-kernel.mjs [--n 1000] [--rounds 3] [--context 200] [--websocket]
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fmt, kernelRoundTrips, median, startTunnels } from './tunnel-support/common.mjs';
import { jupyter, sshForward } from './tunnel-support/servers.mjs';

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '50' },
    context: { type: 'string', default: '200' },
    websocket: { type: 'boolean', default: false }
  }
});
const N = Number(args.n);
const ROUNDS = Number(args.rounds);
const WARMUP = Number(args.warmup);
const CONTEXT = Number(args.context);

function post(url, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers } },
      res => {
        let text = '';
        res.on('data', c => (text += c));
        res.on('end', () =>
          res.statusCode === 201
            ? resolve(JSON.parse(text))
            : reject(new Error(`${res.statusCode} ${text}`))
        );
      }
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

const dir = mkdtempSync(path.join(tmpdir(), 'interlink-bench-kernel-'));
const cleanup = [];
try {
  const id = 'kernel';
  const base = `/interlink/sessions/${id}/`;
  const jp = await jupyter(dir, base);
  cleanup.push(() => jp.stop());
  const tunnels = await startTunnels(id, base, jp, { websocket: args.websocket, cleanup });
  const endpoints = Object.fromEntries(
    Object.entries(tunnels).map(([name, t]) => [name, t.endpoint])
  );

  const auth = { Authorization: `token ${jp.token}` };
  const kernel = await post(`http://127.0.0.1:${jp.endpoint.port}${base}api/kernels`, auth, {
    name: 'python3'
  });
  const channels = `api/kernels/${kernel.id}/channels`;
  const paths = {
    straight: { url: `ws://127.0.0.1:${jp.endpoint.port}${base}${channels}`, headers: auth },
    ...Object.fromEntries(
      Object.entries(endpoints).map(([name, endpoint]) => [
        name,
        { url: endpoint.url(id, channels).replace('http:', 'ws:'), headers: {} }
      ])
    )
  };
  const results = Object.fromEntries(Object.keys(paths).map(k => [k, []]));
  for (let r = 0; r < ROUNDS; r++) {
    const order = Object.keys(paths);
    if (r % 2) order.reverse();
    for (const name of order) {
      const res = await kernelRoundTrips(paths[name].url, paths[name].headers, N, WARMUP);
      results[name].push(res);
      console.error(`round ${r + 1} ${name}: p50 ${fmt(res.p50)} ms, p99 ${fmt(res.p99)} ms`);
    }
  }

  const context = {};
  if (CONTEXT > 0) {
    const ssh = await sshForward(dir, jp.endpoint.port);
    cleanup.push(() => ssh.stop());
    context[`ssh -L (${ssh.version.split(',')[0]}) to the NODELAY server`] = await kernelRoundTrips(
      `ws://127.0.0.1:${ssh.port}${base}${channels}`,
      auth,
      CONTEXT,
      10
    );
    const stockDir = mkdtempSync(path.join(dir, 'stock-'));
    const stock = await jupyter(stockDir, base, { nodelay: false });
    cleanup.push(() => stock.stop());
    const stockAuth = { Authorization: `token ${stock.token}` };
    const k2 = await post(`http://127.0.0.1:${stock.endpoint.port}${base}api/kernels`, stockAuth, {
      name: 'python3'
    });
    context['straight to a stock server (Nagle on)'] = await kernelRoundTrips(
      `ws://127.0.0.1:${stock.endpoint.port}${base}api/kernels/${k2.id}/channels`,
      stockAuth,
      CONTEXT,
      10
    );
  }

  const med = (name, key) => median(results[name].map(x => x[key]));
  console.log(
    `\nKernel round trip (execute "pass"), ${N} per run after ${WARMUP} warm-ups, ${ROUNDS} alternating rounds, medians; ${cpus().length} × ${cpus()[0].model}`
  );
  console.log('| path | p50 ms | p99 ms |');
  console.log('| --- | --- | --- |');
  const label = {
    straight: 'straight to the NODELAY server',
    tunnel: 'proxy + tunnel + agent to it',
    'tunnel over WebSocket': 'proxy + tunnel over WebSocket + agent to it'
  };
  for (const name of Object.keys(paths)) {
    console.log(`| ${label[name]} | ${fmt(med(name, 'p50'))} | ${fmt(med(name, 'p99'))} |`);
  }
  for (const [name, r] of Object.entries(context))
    console.log(`| ${name}, ${CONTEXT} runs | ${fmt(r.p50)} | ${fmt(r.p99)} |`);
  console.log(
    `\np50 ratio tunnel/straight = ${fmt(med('tunnel', 'p50') / med('straight', 'p50'))}  (target ≤ 1.25)`
  );
  console.log(
    `p99 ratio tunnel/straight = ${fmt(med('tunnel', 'p99') / med('straight', 'p99'))}  (target ≤ 1.5)`
  );
} finally {
  for (const f of cleanup.reverse()) await f();
  rmSync(dir, { recursive: true, force: true });
}
