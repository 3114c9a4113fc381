import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import type { V1Pod } from '@kubernetes/client-node';
import {
  ANNOTATIONS,
  readPodMetadata,
  type Driver,
  type DriverEvents,
  type ObservedPod
} from '@jupyterlab-interlink/vk-bridge';
import { signPod } from './adoption-key.js';
import { launch, testSite } from '@jupyterlab-interlink/vk-bridge/testing';
import { createLogger } from './logging.js';
import { SessionManager } from './sessions.js';

/** A backend that already runs one pod of ours when the proxy server starts. */
class RunningBackend extends EventEmitter<DriverEvents> implements Driver {
  readonly kind = 'local' as const;
  constructor(private readonly observed: ObservedPod[]) {
    super();
  }
  async start(): Promise<ObservedPod[]> {
    return this.observed;
  }
  async create(): Promise<{ backendId: string }> {
    throw new Error('not in this test');
  }
  async delete(): Promise<void> {}
  async logs(): Promise<Readable> {
    return Readable.from([]);
  }
  async health() {
    return { status: 'ok' as const };
  }
  async close(): Promise<void> {}
}

const KEY = randomBytes(32);

/** A pod as this server writes it: signed with its key. */
function signed(pod: V1Pod, key = KEY): V1Pod {
  const annotations = (pod.metadata!.annotations ??= {});
  annotations[ANNOTATIONS.signature] = signPod(key, readPodMetadata(pod)!);
  return pod;
}

/** A SessionManager over a backend that already runs `observed` (what a restart finds). */
function restartedManager(site: ReturnType<typeof testSite>, observed: ObservedPod[]) {
  return new SessionManager({
    adoptionKey: KEY,
    sites: [site],
    drivers: new Map([[site.id, new RunningBackend(observed)]]),
    basePath: '/interlink',
    tunnelUrl: () => 'ws://127.0.0.1:1/interlink/tunnel',
    agentCommand: () => ['interlink-agent'],
    logger: createLogger('silent')
  });
}

test('a re-adopted kernel session still serves the web-app ports it declared', async () => {
  const site = testSite();
  const { spec, bundle } = launch(site, ['/bin/true'], { ports: [6006, 8787] });
  const manager = restartedManager(site, [
    { sessionId: spec.sessionId, pod: signed(bundle.pod), status: { phase: 'running' } }
  ]);
  try {
    await manager.start();
    const session = manager.get({ name: 'alice', groups: [], via: 'header' }, spec.sessionId);
    assert.deepEqual(session.ports, [6006, 8787]);
  } finally {
    await manager.close();
  }
});

test('a re-adopted session keeps its owner, groups (a comma in one), walltime and path', async () => {
  const site = testSite();
  const { spec, bundle } = launch(site, ['/bin/true'], {
    user: { name: 'alice@example.org', groups: ['physics', 'gpu,a100'] },
    type: 'job',
    walltime: 1200,
    path: 'runs/a.ipynb'
  });
  const manager = restartedManager(site, [
    { sessionId: spec.sessionId, pod: signed(bundle.pod), status: { phase: 'running' } }
  ]);
  try {
    await manager.start();
    assert.deepEqual(manager.ownerOf(spec.sessionId), {
      name: 'alice@example.org',
      groups: ['physics', 'gpu,a100']
    });
    const session = manager.get(
      { name: 'alice@example.org', groups: [], via: 'header' },
      spec.sessionId
    );
    assert.equal(session.walltime, 1200);
    assert.equal(session.type, 'job');
    assert.equal(session.path, 'runs/a.ipynb');
    assert.equal(session.url, `/interlink/sessions/${spec.sessionId}/`);
  } finally {
    await manager.close();
  }
});

test('a planted or altered pod is not adopted; a genuine one beside it is', async () => {
  const site = testSite();
  const genuine = launch(site, ['/bin/true'], { user: { name: 'alice', groups: [] } });
  // Someone who can write pods copies alice's and makes it say it is mallory's, keeping the
  // signature; another plants one from scratch, unsigned; a third signs with a key of its own.
  const altered = launch(site, ['/bin/true'], { user: { name: 'alice', groups: [] } });
  const alteredPod = signed(altered.bundle.pod);
  alteredPod.metadata!.annotations![ANNOTATIONS.user] = 'mallory';
  const unsigned = launch(site, ['/bin/true'], { user: { name: 'mallory', groups: [] } });
  const otherKey = launch(site, ['/bin/true'], { user: { name: 'mallory', groups: [] } });
  const running = { phase: 'running' as const };
  const manager = restartedManager(site, [
    { sessionId: genuine.spec.sessionId, pod: signed(genuine.bundle.pod), status: running },
    { sessionId: altered.spec.sessionId, pod: alteredPod, status: running },
    { sessionId: unsigned.spec.sessionId, pod: unsigned.bundle.pod, status: running },
    {
      sessionId: otherKey.spec.sessionId,
      pod: signed(otherKey.bundle.pod, randomBytes(32)),
      status: running
    }
  ]);
  try {
    await manager.start();
    assert.equal(manager.ownerOf(genuine.spec.sessionId)?.name, 'alice');
    for (const planted of [altered, unsigned, otherKey]) {
      assert.equal(manager.ownerOf(planted.spec.sessionId), undefined);
    }
    assert.deepEqual(
      manager.list('mallory').map(s => s.id),
      []
    );
  } finally {
    await manager.close();
  }
});
