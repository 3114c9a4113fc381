import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SlurmDriver } from './slurm.js';
import { renderJobScript } from './slurm-script.js';
import { mapSlurmState, parseSinfo, parseSqueue } from './slurm-states.js';
import { buildPod } from '../pod.js';
import { runAs, testAccount } from '../testing/accounts.js';
import {
  launch,
  PYTHON,
  readAll,
  readUntil,
  testSite,
  waitForStatus
} from '../testing/fixtures.js';
import type { BackendStatus, SiteConfig } from '../types.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
let dir: string;
let driver: SlurmDriver;
let slurmConf: string;
const site: SiteConfig = testSite({
  id: 'leonardo',
  kind: 'hpc',
  driver: 'slurm',
  slurm: { partition: 'debug', preExec: 'export FROM_PRE_EXEC=yes' },
  profiles: [
    {
      id: 'cpu',
      displayName: '1 CPU',
      resources: { cpu: 1, memory: '256Mi', gpu: 0 },
      maxWalltime: 3600
    },
    {
      id: 'gpu',
      displayName: '1 GPU',
      resources: { cpu: 1, memory: '256Mi', gpu: 1 },
      maxWalltime: 3600
    },
    {
      id: 'wide',
      displayName: 'all CPUs',
      resources: { cpu: 64, memory: '256Mi', gpu: 0 },
      maxWalltime: 3600
    }
  ]
});
const profile = (id: string) => site.profiles.find(p => p.id === id)!;

function squeueState(jobId: string): string {
  return execFileSync('squeue', ['-h', '-t', 'all', '-j', jobId, '-o', '%t'], {
    env: { ...process.env, SLURM_CONF: slurmConf }
  })
    .toString()
    .trim();
}

// A job that outlives its --time: started first, checked last, so the minute Slurm needs passes
// while the other tests run.
let timeoutSession: string;
let timeoutDone: Promise<BackendStatus>;

before(async () => {
  execFileSync('bash', [join(repo, 'scripts/slurm-local.sh'), 'start'], {
    stdio: 'ignore',
    timeout: 120000
  });
  slurmConf = execFileSync('bash', [join(repo, 'scripts/slurm-local.sh'), 'env'])
    .toString()
    .split('=')[1]
    .trim();
  dir = await mkdtemp(join(tmpdir(), 'slurm-driver-'));
  driver = new SlurmDriver(site, {
    workDir: join(dir, 'jobs'),
    pollIntervalMs: 300,
    env: { SLURM_CONF: slurmConf }
  });
  await driver.start();
  const slow = launch(
    site,
    [PYTHON, '-c', 'import time; print("long", flush=True); time.sleep(600)'],
    { walltime: 60 }
  );
  delete slow.bundle.pod.spec!.activeDeadlineSeconds;
  timeoutSession = slow.spec.sessionId;
  // no timer of its own (the test has one): skipping that test must not keep the run alive
  timeoutDone = new Promise(resolve => {
    driver.on('update', (id, s) => {
      if (id === timeoutSession && s.phase === 'failed') resolve(s);
    });
  });
  await driver.create(slow.bundle);
});

after(async () => {
  for (const id of driver.sessionIds()) await driver.delete(id).catch(() => undefined);
  await driver.close();
  // a cancelled job may still be writing its last lines
  await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
});

test('slurm: squeue states map as interLink maps them', () => {
  const rows = parseSqueue(
    [
      '11|PD|Resources|2030-01-01T10:00:00',
      '12|R|None|2026-11-25T03:54:11',
      '13|CG|None|2026-11-25T03:54:11',
      '14|CD|None|2026-11-25T03:54:11',
      '15|F|NonZeroExitCode|2026-11-25T03:54:11',
      '16|TO|TimeLimit|2026-11-25T03:54:11',
      '17|OOM|OutOfMemory|2026-11-25T03:54:11',
      '18|CA|None|N/A',
      '19|PD|Priority|N/A',
      '20|DL|DeadLine|N/A',
      '21|NF|NodeFail|N/A'
    ].join('\n')
  );
  const m = rows.map(r => mapSlurmState(r, r.jobId === '15' ? 2 : undefined));
  assert.deepEqual(m[0], {
    phase: 'queued',
    backendId: '11',
    queue: { reason: 'Resources', expectedStart: new Date('2030-01-01T10:00:00').toISOString() }
  });
  assert.equal(m[1].phase, 'running');
  assert.equal(m[1].startedAt, new Date('2026-11-25T03:54:11').toISOString());
  assert.equal(m[2].phase, 'running');
  assert.deepEqual([m[3].phase, m[3].exitCode], ['succeeded', 0]);
  assert.deepEqual([m[4].phase, m[4].reason, m[4].exitCode], ['failed', 'exit code 2', 2]);
  assert.deepEqual([m[5].phase, m[5].reason, m[5].expired], ['failed', 'SlurmJobTimeout', true]);
  assert.deepEqual([m[6].phase, m[6].reason], ['failed', 'OOMKilled']);
  assert.deepEqual([m[7].phase, m[7].reason], ['failed', 'cancelled']);
  assert.deepEqual(m[8].queue, { reason: 'Priority' });
  assert.deepEqual([m[9].reason, m[9].expired], ['DeadlineExceeded', true]);
  assert.equal(m[10].reason, 'NodeFail');
  assert.equal(
    mapSlurmState({ jobId: '1', state: 'F', reason: 'NonZeroExitCode', start: '' }).reason,
    'NonZeroExitCode'
  );
});

test('slurm: sinfo gives health and free GPUs; a node finishing a job is not down', () => {
  assert.deepEqual(parseSinfo('vm|gpu:2|gpu:1(IDX:0)|mix\n'), { status: 'ok', freeGpus: 1 });
  // Right after a job ends the node is "completing" for a few seconds: still up, GPU still held.
  assert.deepEqual(parseSinfo('vm|gpu:2|gpu:1(IDX:0)|comp\n'), { status: 'ok', freeGpus: 1 });
  assert.deepEqual(
    parseSinfo('a|gpu:a100:4|gpu:a100:4(IDX:0-3)|alloc\nb|gpu:a100:4|gpu:a100:0|drain\n'),
    { status: 'degraded', freeGpus: 0 }
  );
  assert.deepEqual(parseSinfo('vm|gpu:2|gpu:0|idle*\n'), {
    status: 'down',
    message: 'no usable node (idle*)',
    freeGpus: 0
  });
});

test('slurm: the batch script carries the flags as #SBATCH lines, pre-exec, quoted argv', () => {
  const { spec } = launch(site, [PYTHON, '-c', "print('it''s')"], { profile: profile('gpu') });
  const { pod } = buildPod(spec);
  const script = renderJobScript({
    jobName: pod.metadata!.name!,
    dir: '/jobs/x',
    flags: pod.metadata!.annotations!['slurm-job.vk.io/flags'].split(' '),
    preExec: 'module load cuda',
    init: [{ name: 'setup', cwd: '', argv: ['/bin/true'] }],
    containers: [{ name: 'agent', cwd: '/home/a b', argv: [PYTHON, '-c', "print('it''s')"] }]
  });
  const sbatch = script.split('\n').filter(l => l.startsWith('#SBATCH'));
  assert.deepEqual(sbatch, [
    '#SBATCH --partition=debug',
    '#SBATCH --gres=gpu:1',
    '#SBATCH --time=0:10:00',
    '#SBATCH --cpus-per-task=1',
    '#SBATCH --mem=256M',
    `#SBATCH --job-name=interlink-${spec.sessionId}`,
    '#SBATCH --output=/jobs/x/job.out'
  ]);
  assert.ok(script.startsWith('#!/bin/bash\n'));
  assert.ok(script.indexOf('module load cuda') < script.indexOf('run_init setup'));
  assert.ok(
    script.includes(`run_ctn agent '/home/a b' '${PYTHON}' '-c' 'print('\\''it'\\'''\\''s'\\'')'`)
  );
});

test('slurm: launch → queued/running → logs → stop; secret as a private file, never in env', async () => {
  const agent = `
import os, stat
p = os.environ["INTERLINK_SECRET_FILE"]
print("secret", open(p).read(), oct(stat.S_IMODE(os.stat(p).st_mode)), flush=True)
print("pre-exec", os.environ.get("FROM_PRE_EXEC"), "job", os.environ.get("SLURM_JOB_ID"), flush=True)
print("cwd", os.getcwd(), flush=True)
import time; time.sleep(600)
`;
  const { bundle, spec, secret } = launch(site, [PYTHON, '-c', agent]);
  const seen: string[] = [];
  driver.on('update', (id, s) => id === spec.sessionId && seen.push(s.phase));
  const running = waitForStatus(driver, spec.sessionId, s => s.phase === 'running', 30000);
  const { backendId } = await driver.create(bundle);
  assert.match(backendId, /^\d+$/);
  const r = await running;
  assert.equal(r.backendId, backendId);
  assert.ok(r.startedAt);
  const logs = await driver.logs(spec.sessionId, { follow: true });
  const out = await readUntil(logs, 'cwd', 30000);
  logs.destroy();
  assert.match(out, new RegExp(`secret ${secret} 0o400`));
  assert.match(out, new RegExp(`pre-exec yes job ${backendId}`));
  // no workingDir: the user's home on the cluster, as a login would
  assert.match(out, new RegExp(`cwd ${process.env.HOME}\n`));
  const jobDir = join(dir, 'jobs', spec.sessionId);
  assert.ok(!readFileSync(join(jobDir, 'env-agent.sh'), 'utf8').includes(secret));
  assert.ok(!readFileSync(join(jobDir, 'job.slurm'), 'utf8').includes(secret));

  const gone = waitForStatus(driver, spec.sessionId, s => s.phase === 'gone');
  await driver.delete(spec.sessionId);
  await gone;
  assert.equal(seen[0], 'pending');
  assert.equal(seen.at(-1), 'gone');
  assert.ok(!existsSync(join(jobDir, 'volumes')), 'the secret is removed with the session');
  assert.match(squeueState(backendId), /^(CA|CG)$/);
  await driver.delete(spec.sessionId);
});

test('slurm: a command that exits 1 → failed, exit code and last line as reason; logs end with the job', async () => {
  const { bundle, spec } = launch(site, [PYTHON, '-c', 'import sys; print("bye"); sys.exit(1)']);
  const failed = waitForStatus(
    driver,
    spec.sessionId,
    s => s.phase === 'failed' || s.phase === 'succeeded',
    30000
  );
  await driver.create(bundle);
  const s = await failed;
  assert.deepEqual([s.phase, s.reason, s.exitCode], ['failed', 'exit code 1: bye', 1]);
  assert.equal(await readAll(await driver.logs(spec.sessionId, { follow: true })), 'bye\n');
  await driver.delete(spec.sessionId);
});

test('slurm: a job using more than its memory → failed, out of memory in words', async () => {
  // no cgroups here: jobacct_gather/linux with OverMemoryKill (scripts/slurm-local.sh) kills it
  const { bundle, spec } = launch(site, [
    PYTHON,
    '-c',
    'import time\nheld = []\nfor _ in range(60):\n    held.append(b"x" * 32 * 2**20); time.sleep(0.1)\nprint("survived")'
  ]);
  const ended = waitForStatus(
    driver,
    spec.sessionId,
    s => s.phase === 'failed' || s.phase === 'succeeded',
    60000
  );
  await driver.create(bundle);
  const s = await ended;
  assert.deepEqual(
    [s.phase, s.reason],
    ['failed', 'out of memory: the job used more than its 256 MiB']
  );
  assert.doesNotMatch(await readAll(await driver.logs(spec.sessionId)), /survived/);
  await driver.delete(spec.sessionId);
});

test('slurm: --gres=gpu:1 is accepted and the job sees CUDA_VISIBLE_DEVICES', async () => {
  const { bundle, spec } = launch(
    site,
    [PYTHON, '-c', 'import os; print("gpus", os.environ.get("CUDA_VISIBLE_DEVICES"))'],
    {
      profile: profile('gpu')
    }
  );
  const done = waitForStatus(
    driver,
    spec.sessionId,
    s => s.phase === 'succeeded' || s.phase === 'failed',
    30000
  );
  await driver.create(bundle);
  assert.equal((await done).phase, 'succeeded');
  assert.match(await readAll(await driver.logs(spec.sessionId)), /^gpus \d\n$/);
  const h = await driver.health();
  assert.equal(h.status, 'ok');
  assert.equal(typeof h.freeGpus, 'number');
  await driver.delete(spec.sessionId);
});

test('slurm: a job that does not fit waits queued, with the scheduler reason', async () => {
  // more CPUs than the node has: Slurm keeps it pending and says why
  const wide = launch(site, [PYTHON, '-c', 'print(1)'], { profile: profile('wide') });
  const stuck = waitForStatus(
    driver,
    wide.spec.sessionId,
    s => s.phase === 'queued' && !!s.queue?.reason,
    30000
  );
  await driver.create(wide.bundle);
  assert.equal((await stuck).queue!.reason, 'PartitionConfig');
  await driver.delete(wide.spec.sessionId);

  const cpus = Number(
    execFileSync('sinfo', ['-h', '-o', '%c'], { env: { ...process.env, SLURM_CONF: slurmConf } })
      .toString()
      .trim()
  );
  // the long job holds one CPU: a job asking for all of them has to wait for resources
  const all = { ...profile('cpu'), resources: { ...profile('cpu').resources, cpu: cpus } };
  const { bundle, spec } = launch(site, [PYTHON, '-c', 'print(1)'], { profile: all });
  const queued = waitForStatus(
    driver,
    spec.sessionId,
    s => s.phase === 'queued' && !!s.queue?.reason,
    30000
  );
  await driver.create(bundle);
  const q = await queued;
  assert.match(q.queue!.reason!, /Resources|Priority/);
  await driver.delete(spec.sessionId);
});

test('slurm: walltime reached → expired', async () => {
  const { bundle, spec } = launch(site, [PYTHON, '-c', 'import time; time.sleep(600)'], {
    walltime: 2
  });
  const failed = waitForStatus(driver, spec.sessionId, s => s.phase === 'failed', 30000);
  await driver.create(bundle);
  const s = await failed;
  assert.deepEqual([s.reason, s.expired], ['DeadlineExceeded', true]);
  await driver.delete(spec.sessionId);
});

test('slurm: one squeue per interval whatever the number of sessions; all re-adopted by a new driver', async () => {
  const n = 12;
  const launches = Array.from({ length: n }, () =>
    launch(site, [PYTHON, '-c', 'import time; time.sleep(600)'])
  );
  for (const l of launches) await driver.create(l.bundle);
  const before = { ...driver.stats };
  await new Promise(r => setTimeout(r, 300 * 5 + 150));
  const polls = driver.stats.polls - before.polls;
  const squeues = driver.stats.squeue - before.squeue;
  assert.ok(polls >= 3 && polls <= 6, `polls ${polls}`);
  assert.equal(squeues, polls, 'one squeue per poll, for all sessions');

  const again = new SlurmDriver(site, {
    workDir: join(dir, 'jobs'),
    pollIntervalMs: 300,
    env: { SLURM_CONF: slurmConf }
  });
  try {
    const adopted = await again.start();
    const ids = adopted.map(a => a.sessionId);
    for (const l of launches) assert.equal(ids.filter(i => i === l.spec.sessionId).length, 1);
    for (const a of adopted.filter(a => launches.some(l => l.spec.sessionId === a.sessionId))) {
      assert.ok(['queued', 'running'].includes(a.status.phase), a.status.phase);
      assert.equal(a.status.backendId, driver.jobId(a.sessionId));
    }
    assert.equal(again.stats.squeue, 1);
  } finally {
    await again.close();
  }
  await Promise.all(launches.map(l => driver.delete(l.spec.sessionId)));
});

test(
  'slurm: a job past its --time ends as SlurmJobTimeout (expired)',
  { timeout: 180000 },
  async () => {
    const s = await timeoutDone;
    assert.deepEqual([s.reason, s.expired], ['SlurmJobTimeout', true]);
    assert.equal(
      await readAll(await driver.logs(timeoutSession, { tail: 100 })).then(t => t.split('\n')[0]),
      'long'
    );
  }
);

test("slurm: each user's job runs as their own account; neither reads the other's secret", async () => {
  const accounts = [testAccount('alice'), testAccount('bob')];
  const jobs = accounts.map(account =>
    launch(
      site,
      [PYTHON, '-c', 'import os, time; print("uid", os.getuid(), flush=True); time.sleep(3)'],
      {
        user: { name: account.name.replace('ilk-', ''), groups: [] },
        account
      }
    )
  );
  for (const job of jobs) {
    // A site's pre-exec runs in the batch script's own environment: the account's login.
    job.bundle.pod.metadata!.annotations!['slurm-job.vk.io/pre-exec'] =
      'echo "pre-exec as $USER in $HOME"';
    await driver.create(job.bundle);
  }
  const secretOf = (sessionId: string): string => {
    const walk = (d: string): string[] =>
      readdirSync(d, { withFileTypes: true }).flatMap(e =>
        e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)]
      );
    return walk(join(dir, 'jobs', sessionId, 'volumes')).find(f => statSync(f).size > 0)!;
  };
  for (const [i, job] of jobs.entries()) {
    const account = accounts[i];
    const other = accounts[1 - i];
    const status = await waitForStatus(
      driver,
      job.spec.sessionId,
      s => s.phase === 'running' || s.phase === 'succeeded',
      90_000
    );
    // Slurm itself holds the job as the account: it ran sbatch as it.
    const user = execFileSync('squeue', ['-h', '-t', 'all', '-j', status.backendId!, '-o', '%u'], {
      env: { ...process.env, SLURM_CONF: slurmConf }
    })
      .toString()
      .trim();
    assert.equal(user, account.name);
    const out = await readUntil(
      await driver.logs(job.spec.sessionId, { follow: true }),
      `uid ${account.uid}\n`
    );
    assert.match(out, new RegExp(`uid ${account.uid}\n`));
    assert.match(out, new RegExp(`pre-exec as ${account.name} in ${account.home}\n`));
    const secret = secretOf(job.spec.sessionId);
    assert.equal(statSync(secret).uid, account.uid);
    assert.equal(runAs(account, ['cat', secret]).status, 0);
    const stolen = runAs(other, ['cat', secret]);
    assert.notEqual(stolen.status, 0, `${other.name} read ${account.name}'s secret`);
    assert.match(stolen.output, /Permission denied/);
  }
  for (const job of jobs) await driver.delete(job.spec.sessionId);
});
