/**
 * The kubernetes driver through the real chain: pods on a real kube-apiserver (kube-scheduler
 * binds them by nodeSelector) → interLink's virtual kubelet → interLink's API server → interLink's
 * HTCondor plugin as handles.py answers. All but the plugin are built from the Go module proxy by
 * scripts/interlink-stack.sh; the test fails, never skips, when they cannot be built.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { KubernetesDriver } from './kubernetes.js';
import { FakeHtcondorPlugin } from '../testing/fake-htcondor-plugin.js';
import { InterlinkApi, KubernetesStack } from '../testing/interlink-api.js';
import { launch, recordStatuses, testSite } from '../testing/fixtures.js';
import type { BackendStatus, SiteConfig } from '../types.js';

let dir: string;
let plugin: FakeHtcondorPlugin;
let api: InterlinkApi;
let stack: KubernetesStack;
let kc: KubeConfig;
let site: SiteConfig;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kubernetes-interlink-'));
  plugin = await FakeHtcondorPlugin.start(join(dir, 'plugin.sock'));
  api = await InterlinkApi.start({ dir: join(dir, 'api'), plugin: plugin.url });
  stack = await KubernetesStack.start(join(dir, 'kube'), 'htc-vk', api);
  kc = new KubeConfig();
  kc.loadFromFile(stack.kubeconfig);
  site = testSite({
    id: 'infn-htc',
    kind: 'htc',
    driver: 'kubernetes',
    namespace: 'default',
    nodeSelector: { 'kubernetes.io/hostname': 'htc-vk' }
  });
});

after(async () => {
  await stack?.stop();
  await api?.stop();
  await plugin?.close();
  await rm(dir, { recursive: true, force: true });
});

async function until<T>(
  what: string,
  f: () => T | undefined | Promise<T | undefined>,
  ms = 60000
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline)
      throw new Error(
        `${what}: not within ${ms} ms\n--- virtual kubelet:\n${stack.output.slice(-3000)}`
      );
    await new Promise(r => setTimeout(r, 100));
  }
}

const lastOf = <T>(seen: T[]): T | undefined => seen[seen.length - 1];
const phases = (seen: BackendStatus[]) =>
  seen.map(s => s.phase).filter((p, i, a) => p !== a[i - 1]);

test('real chain: pod on the API server → VK → interLink → plugin; the session follows its job; Stop deletes pod and job', async () => {
  const driver = new KubernetesDriver(site, { kubeConfig: kc });
  await driver.start();
  try {
    const done = launch(site, ['/bin/true']);
    const seen = recordStatuses(driver, done.spec.sessionId);
    await driver.create(done.bundle);
    const pod = done.bundle.pod.metadata!.name!;
    const core = kc.makeApiClient(CoreV1Api);
    const placed = await core.readNamespacedPod({ name: pod, namespace: 'default' });
    assert.deepEqual(placed.spec?.nodeSelector, { 'kubernetes.io/hostname': 'htc-vk' });
    await until('the virtual kubelet hands the pod to interLink and its plugin', () =>
      plugin.jidOf(pod)
    );
    plugin.setJob(pod, { JobStatus: 2 });
    await until('running', () => lastOf(seen)?.phase === 'running');
    plugin.setJob(pod, { JobStatus: 4, ExitCode: 0 });
    await until('succeeded', () => lastOf(seen)?.phase === 'succeeded');
    const order = phases(seen);
    assert.deepEqual(order.slice(order.indexOf('running')), ['running', 'succeeded']);
    assert.ok(
      order.slice(0, order.indexOf('running')).every(p => p === 'pending' || p === 'queued'),
      `before running: ${order.join(' → ')}`
    );

    // Stop on a running session: the job is removed and the pod leaves the API server
    const stopped = launch(site, ['/bin/true']);
    const stoppedSeen = recordStatuses(driver, stopped.spec.sessionId);
    await driver.create(stopped.bundle);
    const pod2 = stopped.bundle.pod.metadata!.name!;
    await until('job of the second pod', () => plugin.jidOf(pod2));
    const jid = plugin.jidOf(pod2)!;
    plugin.setJob(pod2, { JobStatus: 2 });
    await until('second running', () => lastOf(stoppedSeen)?.phase === 'running');
    await driver.delete(stopped.spec.sessionId);
    await until('condor_rm reached the plugin', () => plugin.jobs.get(jid)?.JobStatus === 3);
    await until('the pod is gone from the API server', async () => {
      try {
        await core.readNamespacedPod({ name: pod2, namespace: 'default' });
        return undefined;
      } catch {
        return true;
      }
    });
    await driver.delete(done.spec.sessionId);
    await until('nothing of ours is left', async () => {
      const pods = await core.listNamespacedPod({ namespace: 'default' });
      return pods.items.length === 0 ? true : undefined;
    });
    assert.equal(plugin.jidOf(pod), undefined);
    assert.equal(plugin.jidOf(pod2), undefined);
  } finally {
    await driver.close();
  }
});
