// 256 MiB download from a real jupyter_server: straight, through proxy + tunnel + agent, and
// through an OpenSSH `ssh -N -L` forward, all on loopback, measured with curl, alternating runs.
// --websocket adds the tunnel over its WebSocket fallback (a second proxy + agent, same server).
// Usage: node bench/tunnel-bulk.mjs [--runs 5] [--mib 256] [--websocket]
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, rmSync, writeSync, closeSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fmt, median, startTunnels } from './tunnel-support/common.mjs';
import { jupyter, sshForward } from './tunnel-support/servers.mjs';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    mib: { type: 'string', default: '256' },
    websocket: { type: 'boolean', default: false }
  }
});
const runs = Number(args.runs);
const mib = Number(args.mib);

function curl(url, headers = {}) {
  const h = Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
  return new Promise((resolve, reject) => {
    const child = spawn(
      'curl',
      ['-sS', '--fail', '-o', '/dev/null', '-w', '%{size_download} %{time_total}', ...h, url],
      {
        stdio: ['ignore', 'pipe', 'inherit']
      }
    );
    let out = '';
    child.stdout.on('data', c => (out += c));
    child.once('exit', code => {
      if (code !== 0) return reject(new Error(`curl exited ${code} for ${url}`));
      const [size, secs] = out.trim().split(' ').map(Number);
      resolve({ size, secs, mibps: size / 1048576 / secs });
    });
    child.once('error', reject);
  });
}

async function sha256Of(url, headers = {}) {
  const h = Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
  return new Promise((resolve, reject) => {
    const child = spawn('curl', ['-sS', '--fail', ...h, url], {
      stdio: ['ignore', 'pipe', 'inherit']
    });
    const digest = createHash('sha256');
    child.stdout.on('data', c => digest.update(c));
    child.once('exit', code =>
      code === 0 ? resolve(digest.digest('hex')) : reject(new Error(`curl ${code}`))
    );
  });
}

const dir = mkdtempSync(path.join(tmpdir(), 'interlink-bench-bulk-'));
const cleanup = [];
try {
  const file = path.join(dir, 'big.bin');
  const want = createHash('sha256');
  const fd = openSync(file, 'w');
  for (let left = mib * 1048576; left > 0;) {
    const chunk = randomBytes(Math.min(left, 16 * 1048576));
    want.update(chunk);
    writeSync(fd, chunk);
    left -= chunk.length;
  }
  closeSync(fd);
  const expected = want.digest('hex');

  const id = 'bulk';
  const base = `/interlink/sessions/${id}/`;
  const jp = await jupyter(dir, base);
  cleanup.push(() => jp.stop());
  const tunnels = await startTunnels(id, base, jp, { websocket: args.websocket, cleanup });
  for (const t of Object.values(tunnels)) t.cpu = { proxy: 0, agent: 0 };
  const ssh = await sshForward(dir, jp.port);
  cleanup.push(() => ssh.stop());

  const auth = { Authorization: `token ${jp.token}` };
  const paths = {
    straight: { url: `http://127.0.0.1:${jp.port}${base}files/big.bin`, headers: auth },
    ...Object.fromEntries(
      Object.entries(tunnels).map(([name, t]) => [
        name,
        { url: t.endpoint.url(id, 'files/big.bin'), headers: {} }
      ])
    ),
    'ssh -L': { url: `http://127.0.0.1:${ssh.port}${base}files/big.bin`, headers: auth }
  };

  for (const [name, p] of Object.entries(paths)) {
    const got = await sha256Of(p.url, p.headers);
    if (got !== expected) throw new Error(`${name}: checksum mismatch`);
  }
  const results = Object.fromEntries(Object.keys(paths).map(k => [k, []]));
  for (const name of Object.keys(tunnels)) await curl(paths[name].url); // warm-up
  for (let r = 0; r < runs; r++) {
    const order = Object.keys(paths);
    for (let i = 0; i < r % order.length; i++) order.push(order.shift());
    for (const name of order) {
      const t = tunnels[name];
      const before = t && [await t.endpoint.cpuSeconds(), await t.agents.cpuSeconds()];
      const res = await curl(paths[name].url, paths[name].headers);
      if (t) {
        t.cpu.proxy += (await t.endpoint.cpuSeconds()) - before[0];
        t.cpu.agent += (await t.agents.cpuSeconds()) - before[1];
      }
      if (res.size !== mib * 1048576) throw new Error(`${name}: got ${res.size} bytes`);
      results[name].push(res.mibps);
    }
  }
  const med = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)]));
  console.log(
    `\n${mib} MiB download, ${runs} alternating runs, curl, loopback; ${cpus().length} × ${cpus()[0].model}`
  );
  console.log(`checksums: every path delivered the file intact (sha256 ${expected.slice(0, 16)}…)`);
  console.log(`${ssh.version}`);
  console.log('| path | median MiB/s | runs (MiB/s) |');
  console.log('| --- | --- | --- |');
  for (const [k, v] of Object.entries(results)) {
    console.log(`| ${k} | ${fmt(med[k], 0)} | ${v.map(x => fmt(x, 0)).join(', ')} |`);
  }
  const perRun = seconds => fmt((seconds / runs) * (256 / mib));
  console.log('');
  for (const [name, t] of Object.entries(tunnels)) {
    console.log(
      `CPU per 256 MiB, ${name}: proxy ${perRun(t.cpu.proxy)} s, agent ${perRun(t.cpu.agent)} s`
    );
  }
  console.log(`tunnel / straight = ${fmt(med.tunnel / med.straight)}  (target ≥ 0.5)`);
  console.log(`tunnel / ssh -L   = ${fmt(med.tunnel / med['ssh -L'])}  (target ≥ 1.0)`);
} finally {
  for (const f of cleanup.reverse()) await f();
  rmSync(dir, { recursive: true, force: true });
}
