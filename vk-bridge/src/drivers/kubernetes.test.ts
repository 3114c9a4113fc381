import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { KubernetesDriver, podToStatus } from './kubernetes.js';
import { FakeApiServer } from '../testing/fake-apiserver.js';
import { LocalKubelet } from '../testing/local-kubelet.js';
import { terminatedAgent } from '../testing/kubernetes-site.js';
import {
  launch,
  PYTHON,
  readAll,
  readUntil,
  testSite,
  waitForStatus
} from '../testing/fixtures.js';
import type { BackendStatus, SiteConfig } from '../types.js';

const site: SiteConfig = testSite({
  id: 'vega',
  kind: 'hpc',
  driver: 'kubernetes',
  namespace: 'interlink',
  nodeSelector: { 'kubernetes.io/hostname': 'vega-vk' }
});

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'k8s-driver-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

test('kubernetes: pod status maps to ours (queue on the virtual node, deadline, Slurm timeout, OOM)', () => {
  const pod = (status: V1Pod['status'], nodeName?: string): V1Pod => ({
    metadata: { name: 'interlink-x' },
    spec: { nodeName, containers: [{ name: 'agent' }] },
    status
  });
  const cases: [V1Pod, Partial<BackendStatus>][] = [
    [
      pod({
        phase: 'Pending',
        conditions: [{ type: 'PodScheduled', status: 'False', message: '0/3 nodes are available' }]
      }),
      { phase: 'pending', queue: { reason: '0/3 nodes are available' } }
    ],
    [pod({ phase: 'Pending' }, 'vega-vk'), { phase: 'queued', queue: {} }],
    [
      pod({ phase: 'Running', startTime: new Date('2026-01-01T00:00:00Z') }, 'vega-vk'),
      { phase: 'running', startedAt: '2026-01-01T00:00:00.000Z' }
    ],
    [pod({ phase: 'Succeeded' }, 'vega-vk'), { phase: 'succeeded', exitCode: 0 }],
    [
      pod({ phase: 'Failed', reason: 'DeadlineExceeded' }, 'vega-vk'),
      { phase: 'failed', reason: 'DeadlineExceeded', expired: true }
    ],
    [
      pod(terminatedAgent('SlurmJobTimeout', 0), 'vega-vk'),
      { phase: 'failed', reason: 'SlurmJobTimeout', expired: true }
    ],
    [
      pod(terminatedAgent('OOMKilled', 137), 'vega-vk'),
      {
        phase: 'failed',
        reason: 'out of memory: the job used more than the memory it asked for',
        exitCode: 137
      }
    ],
    [
      pod(terminatedAgent('Error', 1), 'vega-vk'),
      { phase: 'failed', reason: 'exit code 1', exitCode: 1 }
    ]
  ];
  for (const [p, want] of cases) {
    const got = podToStatus(p);
    for (const [k, v] of Object.entries(want))
      assert.deepEqual(got[k as keyof BackendStatus], v, `${JSON.stringify(p.status)} → ${k}`);
  }
});

test('kubernetes: launch → running → logs → stop against the API, with one watch for all pods', async () => {
  const api = await FakeApiServer.start();
  const kubelet = new LocalKubelet(api, site, join(dir, 'kubelet1'));
  const driver = new KubernetesDriver(site, { kubeConfig: api.kubeConfig() });
  try {
    assert.deepEqual(await driver.start(), []);
    const a = launch(site, [
      PYTHON,
      '-u',
      '-c',
      'import os,time; print("hi", open(os.environ["INTERLINK_SECRET_FILE"]).read()); time.sleep(60)'
    ]);
    const b = launch(site, [PYTHON, '-c', 'import sys; print("bye"); sys.exit(1)']);
    const running = waitForStatus(driver, a.spec.sessionId, s => s.phase === 'running');
    const failed = waitForStatus(driver, b.spec.sessionId, s => s.phase === 'failed');
    assert.equal((await driver.create(a.bundle)).backendId, `interlink-${a.spec.sessionId}`);
    await driver.create(b.bundle);
    await assert.rejects(
      driver.create(b.bundle),
      (e: Error & { code?: string }) => e.code === 'AlreadyExists'
    );
    assert.equal((await running).backendId, `interlink-${a.spec.sessionId}`);
    const f = await failed;
    assert.deepEqual([f.reason, f.exitCode], ['exit code 1: bye', 1]);
    assert.equal(await readAll(await driver.logs(b.spec.sessionId)), 'bye\n');

    // the secret went into a Secret object, the pod only mounts it
    const secrets = api.list('secrets', 'interlink');
    assert.equal(secrets.length, 2);
    assert.ok(
      !JSON.stringify(api.pod('interlink', `interlink-${a.spec.sessionId}`)).includes(a.secret)
    );

    const logs = await driver.logs(a.spec.sessionId, { follow: true });
    assert.match(await readUntil(logs, a.secret), new RegExp(`hi ${a.secret}`));
    const gone = waitForStatus(driver, a.spec.sessionId, s => s.phase === 'gone');
    const ended = readAll(logs);
    await driver.delete(a.spec.sessionId);
    await gone;
    await ended;
    await driver.delete(a.spec.sessionId);
    assert.equal(api.list('secrets', 'interlink').length, 1);
    assert.deepEqual(kubelet.driver.processes(a.spec.sessionId), []);
    await assert.rejects(
      driver.logs('nope'),
      (e: Error & { code?: string }) => e.code === 'NotFound'
    );

    const watches = api.requests.filter(r => r.method === 'GET' && /watch=true/.test(r.query));
    const perPod = api.requests.filter(r => r.method === 'GET' && /\/pods\/[^/]+$/.test(r.path));
    assert.equal(watches.length, 1, 'one watch for every session');
    assert.equal(perPod.length, 0, 'no per-session polling');
    assert.ok(watches[0].query.includes(encodeURIComponent('interlink.jupyter.org/site=vega')));
  } finally {
    await driver.close();
    await kubelet.close();
    await api.close();
  }
});

test('kubernetes: walltime reached → expired (activeDeadlineSeconds)', async () => {
  const api = await FakeApiServer.start();
  const kubelet = new LocalKubelet(api, site, join(dir, 'kubelet2'));
  const driver = new KubernetesDriver(site, { kubeConfig: api.kubeConfig() });
  try {
    await driver.start();
    const { bundle, spec } = launch(site, [PYTHON, '-c', 'import time; time.sleep(60)'], {
      walltime: 1
    });
    const failed = waitForStatus(driver, spec.sessionId, s => s.phase === 'failed');
    await driver.create(bundle);
    const s = await failed;
    assert.deepEqual([s.reason, s.expired], ['DeadlineExceeded', true]);
    await driver.delete(spec.sessionId);
  } finally {
    await driver.close();
    await kubelet.close();
    await api.close();
  }
});

test('kubernetes: 410 Gone relists, a closed watch resumes from its resourceVersion', async () => {
  const api = await FakeApiServer.start();
  const driver = new KubernetesDriver(site, { kubeConfig: api.kubeConfig(), retryMs: 50 });
  try {
    await driver.start();
    await sleep(100);
    const listsAtStart = driver.restarts;
    const a = launch(site, ['/bin/true']);
    await driver.create(a.bundle);
    const name = `interlink-${a.spec.sessionId}`;
    const queued = waitForStatus(driver, a.spec.sessionId, s => s.phase === 'queued');
    await queued;

    // watch timeout: a new watch from the last resourceVersion, no relist, nothing missed
    api.closeWatches();
    await sleep(50);
    const running = waitForStatus(driver, a.spec.sessionId, s => s.phase === 'running');
    api.setPodStatus('interlink', name, { phase: 'Running', startTime: new Date() });
    await running;
    assert.equal(driver.restarts, listsAtStart);
    const watches = api.requests.filter(r => /watch=true/.test(r.query));
    assert.ok(watches.length >= 2 && /resourceVersion=\d+/.test(watches.at(-1)!.query));

    // history compacted: 410 Expired → relist; changes made meanwhile are still seen
    api.compact();
    api.setPodStatus('interlink', name, { phase: 'Succeeded' });
    const done = waitForStatus(driver, a.spec.sessionId, s => s.phase === 'succeeded');
    await done;
    await sleep(100);
    assert.ok(driver.restarts > listsAtStart, 'relisted after 410');
    // still watching after the relist
    const gone = waitForStatus(driver, a.spec.sessionId, s => s.phase === 'gone');
    await driver.delete(a.spec.sessionId);
    await gone;
  } finally {
    await driver.close();
    await api.close();
  }
});

test('kubernetes: a new driver re-adopts 20 live pods, all reported once, none duplicated', async () => {
  const api = await FakeApiServer.start();
  const first = new KubernetesDriver(site, { kubeConfig: api.kubeConfig() });
  await first.start();
  const launches = Array.from({ length: 20 }, () => launch(site, ['/bin/true']));
  for (const l of launches) await first.create(l.bundle);
  for (const l of launches)
    api.setPodStatus('interlink', `interlink-${l.spec.sessionId}`, {
      phase: 'Running',
      startTime: new Date()
    });
  // someone else's pod in the namespace, and one of another site: not ours to adopt
  api.seed('pods', {
    metadata: { name: 'other', namespace: 'interlink', labels: { app: 'x' } },
    spec: { containers: [{ name: 'c' }] }
  });
  const otherSite = launch({ ...site, id: 'other-site' }, ['/bin/true']);
  await first.create(otherSite.bundle);
  await first.close();

  const second = new KubernetesDriver(site, { kubeConfig: api.kubeConfig() });
  const updates: string[] = [];
  second.on('update', id => updates.push(id));
  try {
    const adopted = await second.start();
    const ids = adopted.map(a => a.sessionId).sort();
    assert.deepEqual(ids, launches.map(l => l.spec.sessionId).sort());
    assert.ok(adopted.every(a => a.status.phase === 'running'));
    assert.ok(
      adopted.every(a => a.pod.metadata?.annotations?.['interlink.jupyter.org/secret-sha256'])
    );
    await sleep(300);
    assert.deepEqual(updates, [], 'the informer start reports nothing twice');
    const one = launches[3].spec.sessionId;
    const done = waitForStatus(second, one, s => s.phase === 'succeeded');
    api.setPodStatus('interlink', `interlink-${one}`, { phase: 'Succeeded' });
    await done;
    assert.deepEqual(updates, [one]);
  } finally {
    await second.close();
    await api.close();
  }
});

test('kubernetes: a bad token or unreachable API fails start() with a message', async () => {
  const api = await FakeApiServer.start();
  const kc = api.kubeConfig();
  kc.users[0] = { ...kc.users[0], token: 'wrong' } as (typeof kc.users)[0];
  const driver = new KubernetesDriver(site, { kubeConfig: kc });
  try {
    await assert.rejects(driver.start(), /site "vega": cannot list pods in namespace interlink/);
    assert.equal((await driver.health()).status, 'down');
  } finally {
    await driver.close();
    await api.close();
  }
});
