/**
 * The same lifecycle on every driver: launch → (queued) → running → logs → stop; a command that
 * exits 1 → failed with its exit code as reason; walltime reached → expired.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDriver } from './factory.js';
import { FakeApiServer } from './testing/fake-apiserver.js';
import { FakeInterlink } from './testing/fake-interlink.js';
import { LocalKubelet } from './testing/local-kubelet.js';
import { launch, PYTHON, readAll, readUntil, testSite, waitForStatus } from './testing/fixtures.js';
import type { BackendPhase, Driver, SiteConfig } from './types.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Harness {
  name: string;
  /** the backend shows a queue this test can observe */
  queues: boolean;
  /** a failure's reason carries the job log's last line */
  logLine: boolean;
  setup(dir: string): Promise<{ driver: Driver; site: SiteConfig; teardown(): Promise<void> }>;
}

const harnesses: Harness[] = [
  {
    name: 'local',
    queues: false,
    logLine: true,
    async setup(dir) {
      const site = testSite({ id: 'here', driver: 'local' });
      const driver = createDriver(site, { stateDir: dir });
      return { driver, site, teardown: async () => driver.close() };
    }
  },
  {
    name: 'slurm',
    queues: false,
    logLine: true,
    async setup(dir) {
      execFileSync('bash', [join(repo, 'scripts/slurm-local.sh'), 'start'], {
        stdio: 'ignore',
        timeout: 120000
      });
      const conf = execFileSync('bash', [join(repo, 'scripts/slurm-local.sh'), 'env'])
        .toString()
        .split('=')[1]
        .trim();
      const site = testSite({ id: 'hpc', kind: 'hpc', driver: 'slurm', slurm: { conf } });
      const driver = createDriver(site, { stateDir: dir, pollIntervalMs: 300 });
      return {
        driver,
        site,
        teardown: async () => {
          for (const id of (driver as unknown as { sessionIds(): string[] }).sessionIds())
            await driver.delete(id);
          await driver.close();
        }
      };
    }
  },
  {
    name: 'kubernetes',
    queues: true,
    logLine: true,
    async setup(dir) {
      const api = await FakeApiServer.start();
      const site = testSite({
        id: 'k8s',
        kind: 'hpc',
        driver: 'kubernetes',
        namespace: 'ns',
        nodeSelector: { 'kubernetes.io/hostname': 'vk' }
      });
      const kubelet = new LocalKubelet(api, site, join(dir, 'node'));
      const driver = createDriver(site, { kubernetes: { kubeConfig: api.kubeConfig() } });
      return {
        driver,
        site,
        teardown: async () => {
          await driver.close();
          await kubelet.close();
          await api.close();
        }
      };
    }
  },
  {
    name: 'interlink',
    queues: true,
    // interLink's /status carries no log text
    logLine: false,
    async setup(dir) {
      const remote = await FakeInterlink.start(testSite(), join(dir, 'remote'));
      remote.holdMs = 500;
      const site = testSite({
        id: 'htc',
        kind: 'htc',
        driver: 'interlink',
        nodeSelector: { 'kubernetes.io/hostname': 'vk' },
        interlink: { url: remote.url, token: remote.token }
      });
      const driver = createDriver(site, { stateDir: dir, pollIntervalMs: 200 });
      return {
        driver,
        site,
        teardown: async () => {
          for (const id of (driver as unknown as { sessionIds(): string[] }).sessionIds())
            await driver.delete(id);
          await driver.close();
          assert.deepEqual(
            remote.problems(),
            [],
            'every request matched the interLink OpenAPI document'
          );
          await remote.close();
        }
      };
    }
  }
];

const ORDER: BackendPhase[] = ['pending', 'queued', 'running', 'succeeded', 'failed', 'gone'];

for (const h of harnesses) {
  describe(`lifecycle on the ${h.name} driver`, () => {
    let dir: string;
    let env: Awaited<ReturnType<Harness['setup']>>;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), `lifecycle-${h.name}-`));
      env = await h.setup(dir);
      await env.driver.start();
    });
    after(async () => {
      await env.teardown();
      // a cancelled job may still be writing its last lines
      await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
    });

    test('launch → queued → running → logs → stop', async () => {
      const { driver, site } = env;
      const { bundle, spec } = launch(site, [
        PYTHON,
        '-u',
        '-c',
        'import time; print("ready", flush=True); time.sleep(120)'
      ]);
      const phases: BackendPhase[] = [];
      driver.on('update', (id, s) => {
        if (id === spec.sessionId && phases.at(-1) !== s.phase) phases.push(s.phase);
      });
      const running = waitForStatus(driver, spec.sessionId, s => s.phase === 'running', 30000);
      await driver.create(bundle);
      await running;
      const logs = await driver.logs(spec.sessionId, { follow: true });
      await readUntil(logs, 'ready\n', 30000);
      const gone = waitForStatus(driver, spec.sessionId, s => s.phase === 'gone', 30000);
      const ended = readAll(logs, 30000);
      await driver.delete(spec.sessionId);
      await gone;
      await ended;
      // phases only move forward, and the queue shows where the backend has one
      assert.deepEqual(
        phases,
        [...phases].sort((a, b) => ORDER.indexOf(a) - ORDER.indexOf(b))
      );
      assert.ok(phases.includes('running') && phases.at(-1) === 'gone', phases.join(' → '));
      if (h.queues) assert.ok(phases.includes('queued'), phases.join(' → '));
    });

    /** Runs `code` in Python, resolves with how it ended. */
    async function failing(code: string) {
      const { driver, site } = env;
      const { bundle, spec, secret } = launch(site, [PYTHON, '-c', code]);
      const ended = waitForStatus(
        driver,
        spec.sessionId,
        s => s.phase === 'failed' || s.phase === 'succeeded',
        30000
      );
      await driver.create(bundle);
      const status = await ended;
      const log = await readAll(await driver.logs(spec.sessionId));
      await driver.delete(spec.sessionId);
      return { status, log, secret };
    }

    test('a command that exits 1 → failed, exit code and the log’s last line as reason', async () => {
      const { status, log } = await failing('print("bye", flush=True); import torch');
      assert.match(log, /bye/);
      assert.equal(status.exitCode, 1);
      assert.equal(
        status.reason,
        h.logLine ? "exit code 1: ModuleNotFoundError: No module named 'torch'" : 'exit code 1'
      );
    });

    test('a reason never shows the secret, and stays short', async () => {
      const { status, log, secret } = await failing(
        'import os, sys; s = open(os.environ["INTERLINK_SECRET_FILE"]).read(); ' +
          'print("x" * 5000); print("the secret is", s); sys.exit(2)'
      );
      assert.ok(log.includes(secret), 'the job did print it');
      assert.match(
        status.reason!,
        h.logLine ? /^exit code 2: the secret is \[redacted\]$/ : /^exit code 2$/
      );
      const long = await failing('import sys; print("y" * 5000); sys.exit(3)');
      assert.ok(long.status.reason!.length <= 200, long.status.reason);
    });

    test('walltime reached → expired', async () => {
      const { driver, site } = env;
      const { bundle, spec } = launch(site, [PYTHON, '-c', 'import time; time.sleep(120)'], {
        walltime: 2
      });
      const failed = waitForStatus(driver, spec.sessionId, s => s.phase === 'failed', 30000);
      await driver.create(bundle);
      const s = await failed;
      assert.equal(s.expired, true, JSON.stringify(s));
      assert.match(s.reason!, /DeadlineExceeded|SlurmJobTimeout/);
      await driver.delete(spec.sessionId);
    });
  });
}
