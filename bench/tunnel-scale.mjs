// Scale: many agents connected and idle (memory per idle tunnel in the proxy), then many streams
// at once, spread over many tunnels and multiplexed on one, every byte checked.
// Usage: node bench/tunnel-scale.mjs [--agents 1000] [--streams 200] [--kib 1024]
import { setTimeout as sleep } from 'node:timers/promises';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { fmt, session, startAgents, startEndpoint } from './tunnel-support/common.mjs';

const { values: args } = parseArgs({
  options: {
    agents: { type: 'string', default: '1000' },
    streams: { type: 'string', default: '200' },
    kib: { type: 'string', default: '1024' }
  }
});
const AGENTS = Number(args.agents);
const STREAMS = Number(args.streams);
const SIZE = Number(args.kib) * 1024;

// The remote servers: one process serves every session; each stream gets its own random bytes.
const blobs = new Map();
const target = http.createServer((req, res) => {
  const blob = blobs.get(req.url.split('/').pop());
  if (!blob) return res.writeHead(404).end();
  res.writeHead(200, { 'Content-Length': blob.length }).end(blob);
});
await new Promise(r => target.listen(0, '127.0.0.1', r));
const targetPort = target.address().port;

const sha = b => createHash('sha256').update(b).digest('hex');
const hwm = pid =>
  Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;

function download(url) {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, res => {
        const h = createHash('sha256');
        let n = 0;
        res.on('data', c => {
          h.update(c);
          n += c.length;
        });
        res.on('end', () => resolve({ status: res.statusCode, n, sha: h.digest('hex') }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

async function burst(label, urlFor) {
  const names = Array.from({ length: STREAMS }, (_, i) => `${label}-${i}`);
  for (const name of names) blobs.set(name, randomBytes(SIZE));
  const t0 = Date.now();
  const results = await Promise.all(names.map((name, i) => download(urlFor(i, name))));
  const secs = (Date.now() - t0) / 1000;
  let ok = 0;
  results.forEach((r, i) => {
    if (r.status === 200 && r.n === SIZE && r.sha === sha(blobs.get(names[i]))) ok++;
  });
  for (const name of names) blobs.delete(name);
  return { ok, secs, mibps: (STREAMS * SIZE) / 1048576 / secs };
}

const endpoint = await startEndpoint(['--expose-gc']);
const sessions = Array.from({ length: AGENTS }, (_, i) => session(`scale-${i}`));
const ids = sessions.map(s => s.sessionId);
await endpoint.addSecrets(sessions.map(s => [s.sessionId, s.secret]));
const before = await endpoint.memory([]);
const agents = startAgents(endpoint.tunnelUrl, sessions, {
  host: '127.0.0.1',
  port: targetPort,
  token: 'x'
});
try {
  const t0 = Date.now();
  await endpoint.waitUp(ids);
  const connectSecs = (Date.now() - t0) / 1000;
  await sleep(2000);
  const idle = await endpoint.memory(ids);
  const perTunnel = k => (idle.memory[k] - before.memory[k]) / AGENTS / 1024;
  const heapish = m => m.heapUsed + m.external + m.arrayBuffers;
  const perTunnelHeap = (heapish(idle.memory) - heapish(before.memory)) / AGENTS / 1024;

  const spread = await burst('spread', (i, name) => endpoint.url(ids[i % AGENTS], name));
  const single = await burst('single', (_i, name) => endpoint.url(ids[0], name));
  const after = await endpoint.memory(ids);

  console.log(
    `\nScale on ${cpus().length} × ${cpus()[0].model}, proxy in its own process, all agents in another`
  );
  console.log(
    `${AGENTS} agents connected in ${fmt(connectSecs, 1)} s; ${idle.up} tunnels up and idle`
  );
  console.log(
    `proxy memory per idle tunnel: ${fmt(perTunnel('rss'), 1)} KiB RSS, ${fmt(perTunnelHeap, 1)} KiB JS heap + buffers (target ≤ 64 KiB)`
  );
  console.log(
    `${STREAMS} downloads of ${SIZE / 1024} KiB at once over ${Math.min(STREAMS, AGENTS)} tunnels: ${spread.ok}/${STREAMS} intact (sha256), ${fmt(spread.secs)} s, ${fmt(spread.mibps, 0)} MiB/s`
  );
  console.log(
    `${STREAMS} downloads of ${SIZE / 1024} KiB at once over 1 tunnel:  ${single.ok}/${STREAMS} intact (sha256), ${fmt(single.secs)} s, ${fmt(single.mibps, 0)} MiB/s`
  );
  console.log(
    `proxy RSS: ${fmt(before.memory.rss / 1048576, 0)} MiB empty, ${fmt(idle.memory.rss / 1048576, 0)} MiB with ${AGENTS} idle tunnels, peak ${fmt(hwm(endpoint.child.pid) / 1048576, 0)} MiB, ${fmt(after.memory.rss / 1048576, 0)} MiB after the bursts; ${after.up} tunnels still up`
  );
  if (spread.ok !== STREAMS || single.ok !== STREAMS) process.exitCode = 1;
} finally {
  await agents.stop();
  await endpoint.stop();
  target.close();
}
