// 256 MiB download from a real jupyter_server: straight, through proxy + tunnel + agent, and
// through an OpenSSH `ssh -N -L` forward, all on loopback, measured with curl, alternating runs.
// Usage: node bench/tunnel-bulk.mjs [--runs 5] [--mib 256]
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, rmSync, writeSync, closeSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fmt, median, session, startAgents, startHub } from './tunnel-support/common.mjs';
import { jupyter, sshForward } from './tunnel-support/servers.mjs';

const { values: args } = parseArgs({
  options: { runs: { type: 'string', default: '5' }, mib: { type: 'string', default: '256' } }
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
  const hub = await startHub();
  cleanup.push(() => hub.stop());
  const s = session(id, base);
  await hub.addSecrets([[s.sessionId, s.secret]]);
  const agents = startAgents(hub.tunnelUrl, [s], { host: jp.host, port: jp.port, token: jp.token });
  cleanup.push(() => agents.stop());
  await hub.waitUp([id]);
  const ssh = await sshForward(dir, jp.port);
  cleanup.push(() => ssh.stop());

  const auth = { Authorization: `token ${jp.token}` };
  const paths = {
    straight: { url: `http://127.0.0.1:${jp.port}${base}files/big.bin`, headers: auth },
    tunnel: { url: hub.url(id, 'files/big.bin'), headers: {} },
    'ssh -L': { url: `http://127.0.0.1:${ssh.port}${base}files/big.bin`, headers: auth }
  };

  for (const [name, p] of Object.entries(paths)) {
    const got = await sha256Of(p.url, p.headers);
    if (got !== expected) throw new Error(`${name}: checksum mismatch`);
  }
  const results = Object.fromEntries(Object.keys(paths).map(k => [k, []]));
  const cpu = { proxy: 0, agent: 0 };
  await curl(paths.tunnel.url); // warm-up
  for (let r = 0; r < runs; r++) {
    const order = Object.keys(paths);
    for (let i = 0; i < r % order.length; i++) order.push(order.shift());
    for (const name of order) {
      const before = name === 'tunnel' && [await hub.cpuSeconds(), await agents.cpuSeconds()];
      const res = await curl(paths[name].url, paths[name].headers);
      if (before) {
        cpu.proxy += (await hub.cpuSeconds()) - before[0];
        cpu.agent += (await agents.cpuSeconds()) - before[1];
      }
      if (res.size !== mib * 1048576) throw new Error(`${name}: got ${res.size} bytes`);
      results[name].push(res.mibps);
    }
  }
  const med = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)]));
  console.log(
    `\n${mib} MiB download, ${runs} alternating runs, curl, loopback; ${cpus().length} × ${cpus()[0].model}`
  );
  console.log(
    `checksums: all three paths delivered the file intact (sha256 ${expected.slice(0, 16)}…)`
  );
  console.log(`${ssh.version}`);
  console.log('| path | median MiB/s | runs (MiB/s) |');
  console.log('| --- | --- | --- |');
  for (const [k, v] of Object.entries(results)) {
    console.log(`| ${k} | ${fmt(med[k], 0)} | ${v.map(x => fmt(x, 0)).join(', ')} |`);
  }
  const perRun = s => fmt((s / runs) * (256 / mib));
  console.log(
    `\nCPU per 256 MiB through the tunnel: proxy ${perRun(cpu.proxy)} s, agent ${perRun(cpu.agent)} s`
  );
  console.log(`tunnel / straight = ${fmt(med.tunnel / med.straight)}  (target ≥ 0.5)`);
  console.log(`tunnel / ssh -L   = ${fmt(med.tunnel / med['ssh -L'])}  (target ≥ 1.0)`);
} finally {
  for (const f of cleanup.reverse()) await f();
  rmSync(dir, { recursive: true, force: true });
}
