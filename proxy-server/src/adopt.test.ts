import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import type { Driver, DriverEvents, ObservedPod } from '@jupyterlab-interlink/vk-bridge';
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

/** A SessionManager over a backend that already runs `observed` (what a restart finds). */
function restartedManager(site: ReturnType<typeof testSite>, observed: ObservedPod[]) {
  return new SessionManager({
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
    { sessionId: spec.sessionId, pod: bundle.pod, status: { phase: 'running' } }
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
    { sessionId: spec.sessionId, pod: bundle.pod, status: { phase: 'running' } }
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
