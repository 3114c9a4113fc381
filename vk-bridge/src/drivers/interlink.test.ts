import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InterlinkDriver, interlinkToStatus } from './interlink.js';
import { FakeInterlink } from '../testing/fake-interlink.js';
import {
  launch,
  PYTHON,
  readAll,
  readUntil,
  testSite,
  waitForStatus
} from '../testing/fixtures.js';
import type { SiteConfig } from '../types.js';

let dir: string;
let fake: FakeInterlink;
let site: SiteConfig;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'interlink-driver-'));
  fake = await FakeInterlink.start(testSite(), join(dir, 'remote'));
  site = testSite({
    id: 'infn-htc',
    kind: 'htc',
    driver: 'interlink',
    namespace: 'interlink',
    nodeSelector: { 'kubernetes.io/hostname': 'htc-vk' },
    interlink: { url: fake.url + '/', token: fake.token }
  });
});

after(async () => {
  await fake.close();
  await rm(dir, { recursive: true, force: true });
});

const newDriver = (s = site, stateDir = join(dir, 'state')) =>
  new InterlinkDriver(s, { pollIntervalMs: 200, stateDir });

test('interlink: container states map to ours as the Virtual Kubelet derives the phase', () => {
  const c = (state: object) => ({
    name: 'agent',
    image: '',
    imageID: '',
    ready: false,
    restartCount: 0,
    state
  });
  assert.deepEqual(interlinkToStatus({ JID: '7', containers: [] }), {
    phase: 'pending',
    backendId: '7'
  });
  assert.deepEqual(
    interlinkToStatus({ JID: '7', containers: [c({ waiting: { reason: 'PD' } })] }),
    { phase: 'queued', backendId: '7', queue: { reason: 'PD' } }
  );
  assert.equal(
    interlinkToStatus({ containers: [c({ running: { startedAt: '2026-01-01T00:00:00Z' } })] }, 'p')
      .startedAt,
    '2026-01-01T00:00:00.000Z'
  );
  assert.equal(
    interlinkToStatus({ containers: [c({ terminated: { exitCode: 0 } })] }).phase,
    'succeeded'
  );
  assert.deepEqual(
    interlinkToStatus({ containers: [c({ terminated: { exitCode: 3 } })] }).reason,
    'exit code 3'
  );
  const to = interlinkToStatus({
    containers: [c({ terminated: { exitCode: 0, reason: 'SlurmJobTimeout' } })]
  });
  assert.deepEqual([to.phase, to.reason, to.expired], ['failed', 'SlurmJobTimeout', true]);
  assert.equal(
    interlinkToStatus(
      { containers: [c({ terminated: { exitCode: 137, reason: 'OOMKilled' } })] },
      'interlink-x',
      2 * 1024 ** 3
    ).reason,
    'out of memory: the job used more than its 2 GiB'
  );
  assert.equal(
    interlinkToStatus({
      initContainers: [{ ...c({ terminated: { exitCode: 2 } }), name: 'setup' }],
      containers: [c({ waiting: {} })]
    }).reason,
    'init container setup: exit code 2'
  );
});

test('interlink: launch → queued → running → logs → stop; requests match the OpenAPI document', async () => {
  fake.holdMs = 700;
  const driver = newDriver();
  try {
    assert.deepEqual(await driver.start(), []);
    const { bundle, spec, secret } = launch(site, [
      PYTHON,
      '-u',
      '-c',
      'import os,time; print("hi", open(os.environ["INTERLINK_SECRET_FILE"]).read()); time.sleep(60)'
    ]);
    const seen: string[] = [];
    driver.on('update', (id, s) => id === spec.sessionId && seen.push(s.phase));
    const queued = waitForStatus(driver, spec.sessionId, s => s.phase === 'queued');
    const running = waitForStatus(driver, spec.sessionId, s => s.phase === 'running');
    const { backendId } = await driver.create(bundle);
    assert.match(backendId, /^\d+$/, 'the remote job id');
    assert.equal((await queued).queue?.reason, 'waiting in the queue (Priority)');
    assert.equal((await running).backendId, backendId);
    const logs = await driver.logs(spec.sessionId, { follow: true });
    assert.match(await readUntil(logs, secret), new RegExp(`hi ${secret}`));
    const gone = waitForStatus(driver, spec.sessionId, s => s.phase === 'gone');
    const ended = readAll(logs);
    await driver.delete(spec.sessionId);
    await gone;
    await ended;
    assert.deepEqual(
      seen.filter((p, i) => p !== seen[i - 1]),
      ['pending', 'queued', 'running', 'gone']
    );
    assert.deepEqual(fake.problems(), []);
    const methods = new Set(fake.requests.map(r => `${r.method} ${r.path}`));
    assert.ok(
      methods.has('GET /status') &&
        methods.has('DELETE /delete') &&
        methods.has('GET /getLogs') &&
        methods.has('POST /create'),
      [...methods].join(', ')
    );
    const h = await driver.health();
    assert.deepEqual([h.status, h.freeGpus], ['ok', 2]);
  } finally {
    fake.holdMs = 0;
    await driver.close();
  }
});

test('interlink: a command that exits 1 → failed with the exit code; walltime → expired', async () => {
  const driver = newDriver();
  try {
    await driver.start();
    const bad = launch(site, [PYTHON, '-c', 'raise SystemExit(1)']);
    const slow = launch(site, [PYTHON, '-c', 'import time; time.sleep(60)'], { walltime: 1 });
    const failed = waitForStatus(driver, bad.spec.sessionId, s => s.phase === 'failed');
    const expired = waitForStatus(driver, slow.spec.sessionId, s => s.phase === 'failed');
    await driver.create(bad.bundle);
    await driver.create(slow.bundle);
    const f = await failed;
    assert.deepEqual([f.reason, f.exitCode], ['exit code 1', 1]);
    const e = await expired;
    // whoever is first: our deadline, or the remote batch system's time limit
    assert.ok(['DeadlineExceeded', 'SlurmJobTimeout'].includes(e.reason!), e.reason);
    assert.equal(e.expired, true);
    assert.deepEqual(fake.executor.processes(slow.spec.sessionId), []);
    await driver.delete(bad.spec.sessionId);
    await driver.delete(slow.spec.sessionId);
    assert.deepEqual(fake.problems(), []);
  } finally {
    await driver.close();
  }
});

test('interlink: one /status for all sessions per interval; a new driver re-adopts them; POST when GET is refused', async () => {
  fake.strictMethods = true;
  const firstRequest = fake.requests.length;
  const driver = newDriver();
  try {
    await driver.start();
    const launches = Array.from({ length: 8 }, () =>
      launch(site, [PYTHON, '-c', 'import time; time.sleep(60)'])
    );
    const running = Promise.all(
      launches.map(l => waitForStatus(driver, l.spec.sessionId, s => s.phase === 'running'))
    );
    for (const l of launches) await driver.create(l.bundle);
    await running;
    const before = { ...driver.stats };
    await new Promise(r => setTimeout(r, 200 * 5 + 100));
    const polls = driver.stats.polls - before.polls;
    assert.ok(polls >= 3, `polls ${polls}`);
    assert.equal(driver.stats.status - before.status, polls, 'one /status call per interval');
    // the server refused GET once, then the driver kept to POST
    const statusCalls = fake.requests.slice(firstRequest).filter(r => r.path === '/status');
    assert.equal(statusCalls.filter(r => r.method === 'GET').length, 1);
    assert.equal(statusCalls.at(-1)!.method, 'POST');

    const again = newDriver();
    try {
      const adopted = await again.start();
      assert.deepEqual(
        adopted.map(a => a.sessionId).sort(),
        launches.map(l => l.spec.sessionId).sort()
      );
      assert.ok(adopted.every(a => a.status.phase === 'running'));
    } finally {
      await again.close();
    }
    await Promise.all(launches.map(l => driver.delete(l.spec.sessionId)));
    assert.deepEqual(fake.problems(), []);
  } finally {
    fake.strictMethods = false;
    await driver.close();
  }
});

test('interlink: a wrong token is refused with a message; health says down', async () => {
  const driver = newDriver(
    { ...site, interlink: { url: fake.url, token: 'wrong' } },
    join(dir, 'state-bad')
  );
  try {
    await driver.start();
    const l = launch(site, ['/bin/true']);
    await assert.rejects(driver.create(l.bundle), /interLink \/create: HTTP 401/);
    assert.equal((await driver.health()).status, 'down');
  } finally {
    await driver.close();
  }
});

test('interlink: the OpenAPI check itself catches wrong types and misspelt fields', async () => {
  const { checkRequest, loadOpenApi } = await import('../testing/openapi-check.js');
  const { INTERLINK_OPENAPI } = await import('../testing/fake-interlink.js');
  const doc = loadOpenApi(INTERLINK_OPENAPI);
  assert.deepEqual(
    checkRequest(doc, '/getLogs', { PodUID: 'u', Opts: { Tail: 5, Follow: true } }),
    []
  );
  assert.deepEqual(checkRequest(doc, '/getLogs', { PodUID: 'u', Opts: { Tail: '5' } }), [
    '/getLogs.Opts.Tail: expected an integer'
  ]);
  assert.deepEqual(checkRequest(doc, '/getLogs', { PodUid: 'u' }), [
    '/getLogs.PodUid: not in the document'
  ]);
  assert.deepEqual(checkRequest(doc, '/status', [{ spec: { containers: 'x' } }]), [
    '/status[0].spec.containers: expected an array'
  ]);
  assert.deepEqual(
    checkRequest(doc, '/create', {
      pod: { spec: { containers: [{ name: 'a', resources: { limits: { cpu: '1' } } }] } }
    }),
    []
  );
});
