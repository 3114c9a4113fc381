// The Slurm executor with 1, 50 and 500 live sessions on the local single-node Slurm: backend
// calls per poll interval (must stay 1 squeue whatever N), time per poll, squeue's two output
// formats for the same job list, and how long a change Slurm already shows takes to become an
// `update` event. Ratios are against N=1 measured in the same run.
// Usage: node bench/slurm-poll.mjs [--max 500] [--interval 1000] [--intervals 5]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { setTimeout } from 'node:timers';
import { buildPod, SlurmDriver } from '../vk-bridge/dist/index.js';
import { benchSite, median, startLocalSlurm, stepsUpTo } from './slurm-support.mjs';

const { values: args } = parseArgs({
  options: {
    max: { type: 'string', default: '500' },
    interval: { type: 'string', default: '1000' },
    intervals: { type: 'string', default: '5' }
  }
});
const interval = Number(args.interval);
const steps = stepsUpTo(Number(args.max));
const { conf, env } = startLocalSlurm();
const dir = mkdtempSync(path.join(tmpdir(), 'bench-slurm-'));
const site = benchSite(conf, 3600);
const driver = new SlurmDriver(site, { workDir: path.join(dir, 'jobs'), pollIntervalMs: interval });
await driver.start();

const timeIt = (fn, runs = 5) =>
  median(
    Array.from({ length: runs }, () => {
      const t = performance.now();
      fn();
      return performance.now() - t;
    })
  );

let created = 0;
const ids = [];
async function grow(n) {
  while (created < n) {
    const sessionId = `bench${process.pid.toString(36)}${created}`;
    const { pod, secrets, configMaps } = buildPod({
      sessionId,
      site,
      profile: site.profiles[0],
      user: { name: 'bench' },
      type: 'kernel',
      walltime: 3600,
      createdAt: new Date().toISOString(),
      agent: {
        command: ['/bin/sleep', '3600'],
        env: {},
        secret: 's',
        secretHash: 'h',
        secretFileEnv: 'INTERLINK_SECRET_FILE'
      }
    });
    await driver.create({ pod, secrets, configMaps });
    ids.push(sessionId);
    created++;
  }
}

const rows = [];
for (const n of steps) {
  await grow(n);
  await new Promise(r => setTimeout(r, interval * 2));
  const before = { ...driver.stats };
  await new Promise(r => setTimeout(r, interval * Number(args.intervals)));
  const polls = driver.stats.polls - before.polls;
  const squeues = driver.stats.squeue - before.squeue;
  const jobList = ids.map(id => driver.jobId(id)).join(',');
  const fmtMs = timeIt(() =>
    execFileSync('squeue', ['-h', '-t', 'all', `--jobs=${jobList}`, '-o', '%i|%t|%r|%S'], { env })
  );
  let jsonBytes = 0;
  const jsonMs = timeIt(() => {
    jsonBytes = execFileSync('squeue', ['-t', 'all', `--jobs=${jobList}`, '--json'], {
      env,
      maxBuffer: 1 << 28
    }).length;
  });
  rows.push({
    n,
    polls,
    squeues,
    perPoll: squeues / Math.max(1, polls),
    pollMs: (driver.stats.pollMs - before.pollMs) / Math.max(1, polls),
    fmtMs,
    jsonMs,
    jsonBytes
  });
}

// a change Slurm shows (a job cancelled behind our back) → our update event
const lat = [];
for (let i = 0; i < 9; i++) {
  const id = ids[ids.length - 1 - i];
  // at a random point of the interval, not right after a poll
  await new Promise(r => setTimeout(r, Math.random() * interval));
  const seen = new Promise(resolve => {
    const t = performance.now();
    const on = (sid, s) => {
      if (sid === id && s.phase === 'failed') {
        driver.off('update', on);
        resolve(performance.now() - t);
      }
    };
    driver.on('update', on);
  });
  execFileSync('scancel', [driver.jobId(id)], { env });
  lat.push(await seen);
}

const base = rows[0];
console.log(
  `Slurm executor, poll interval ${interval} ms, ${args.intervals} intervals per step (${new Date().toISOString()})`
);
console.log(
  'sessions | polls | squeue calls | calls/poll | ms/poll (×N=1) | squeue -o ms (×N=1) | squeue --json ms (×N=1), bytes'
);
for (const r of rows) {
  console.log(
    [
      r.n,
      r.polls,
      r.squeues,
      r.perPoll.toFixed(2),
      `${r.pollMs.toFixed(1)} (×${(r.pollMs / base.pollMs).toFixed(1)})`,
      `${r.fmtMs.toFixed(1)} (×${(r.fmtMs / base.fmtMs).toFixed(1)})`,
      `${r.jsonMs.toFixed(1)} (×${(r.jsonMs / base.jsonMs).toFixed(1)}), ${r.jsonBytes}`
    ].join(' | ')
  );
}
console.log(
  `change in Slurm → update event, ms: median ${median(lat).toFixed(0)}, max ${Math.max(...lat).toFixed(0)} (interval ${interval})`
);

for (const id of ids) await driver.delete(id);
await driver.close();
rmSync(dir, { recursive: true, force: true });
