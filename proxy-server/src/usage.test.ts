/**
 * Usage on the embedded local site with real agents: a watching owner gets their session's node
 * figures pushed (GPUs from a stand-in `nvidia-smi` on the job's PATH); GPU-hours and core-hours
 * of the month add up over two sessions, survive a restart, and come with the site's budget line.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NodeUsage, Session, UsageSummary } from '@jupyterlab-interlink/contract';
import { defaultLocalSite, type SiteConfig } from '@jupyterlab-interlink/vk-bridge';
import { hoursIn } from './usage-watch.js';
import { TokenAuthenticator, startProxyServer, type RunningProxyServer } from './index.js';
import { createLogger } from './logging.js';
import { readEvents, waitForEvent } from './testing/events.js';

const TOKEN = 'alice-token-0123456789';

describe('hours in a month', () => {
  it('counts only the part of a session inside the month', () => {
    const h = 3_600_000;
    const dec1 = Date.parse('2026-12-01T00:00:00Z');
    assert.equal(hoursIn('2026-12', dec1 - 2 * h, dec1 + 3 * h), 3);
    assert.equal(hoursIn('2026-12', dec1 + h, dec1 + 2 * h), 1);
    assert.equal(hoursIn('2026-11', dec1 + h, dec1 + 2 * h), 0);
  });
});

describe('usage of sessions', () => {
  const dir = mkdtempSync(join(tmpdir(), 'usage-'));
  const stateDir = join(dir, 'state');
  const bin = join(dir, 'bin');
  let server: RunningProxyServer;
  let api: string;
  const headers = { authorization: `token ${TOKEN}`, 'content-type': 'application/json' };
  const site: SiteConfig = {
    ...defaultLocalSite(),
    profiles: [
      {
        id: 'gpu',
        displayName: '1 GPU, 2 CPUs',
        resources: { cpu: 2, memory: '1Gi', gpu: 1 },
        maxWalltime: 3600
      }
    ],
    budget: { command: ['echo', '{username}: 1234 of 5000 GPU-hours left'] }
  };

  const start = () =>
    startProxyServer({
      sites: [site],
      auth: new TokenAuthenticator(TOKEN, 'alice'),
      logger: createLogger('warn'),
      workingDir: dir,
      stateDir,
      usageIntervalMs: 500,
      // What the job sees first on its PATH: an nvidia-smi that answers as an A100 would.
      agentEnv: { PATH: `${bin}:${process.env.PATH}` }
    });

  before(async () => {
    mkdirSync(bin, { recursive: true });
    writeFileSync(
      join(bin, 'nvidia-smi'),
      '#!/bin/sh\necho "0, NVIDIA A100-SXM4-40GB, 37, 1024, 40960"\n',
      { flag: 'w' }
    );
    chmodSync(join(bin, 'nvidia-smi'), 0o755);
    server = await start();
    api = `${server.url}/interlink/api`;
  });
  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const launch = async (): Promise<string> => {
    const res = await fetch(`${api}/sessions`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ site: 'local', profile: 'gpu', type: 'kernel' })
    });
    assert.equal(res.status, 201);
    return ((await res.json()) as Session).id;
  };

  it('pushes the node’s figures to its watching owner, GPUs included', async () => {
    const events = readEvents(await fetch(`${api}/events`, { headers }));
    const id = await launch();
    const event = await waitForEvent(
      events,
      e => e.event === 'usage' && (e.data as { id: string }).id === id,
      'a usage event',
      60_000
    );
    const usage = (event.data as { usage: NodeUsage }).usage;
    assert.ok(usage.cpu.cores >= 1);
    assert.ok(usage.cpu.percent >= 0 && usage.cpu.percent <= 100);
    assert.ok(usage.memory.totalBytes > usage.memory.usedBytes && usage.memory.usedBytes > 0);
    assert.deepEqual(usage.gpus, [
      {
        index: 0,
        name: 'NVIDIA A100-SXM4-40GB',
        utilization: 37,
        memoryUsedMiB: 1024,
        memoryTotalMiB: 40960
      }
    ]);
    await fetch(`${api}/sessions/${id}`, { method: 'DELETE', headers });
    await events.return(undefined);
  });

  it('adds up GPU-hours and core-hours over sessions, across a restart, with the budget', async () => {
    await new Promise(r => setTimeout(r, 500)); // the first test's session has ended
    const ids = [await launch(), await launch()];
    for (const id of ids) {
      for (let i = 0; i < 300; i++) {
        const s = (await (await fetch(`${api}/sessions/${id}`, { headers })).json()) as Session;
        if (s.state === 'ready') break;
        await new Promise(r => setTimeout(r, 200));
      }
      await new Promise(r => setTimeout(r, 1000));
      await fetch(`${api}/sessions/${id}`, { method: 'DELETE', headers });
    }
    const ended: Session[] = [];
    for (const id of ids) {
      for (let i = 0; i < 100; i++) {
        const s = (await (await fetch(`${api}/sessions/${id}`, { headers })).json()) as Session;
        if (s.state === 'cancelled') {
          ended.push(s);
          break;
        }
        await new Promise(r => setTimeout(r, 100));
      }
    }
    const all = (await (await fetch(`${api}/sessions`, { headers })).json()) as Session[];
    const hours = all
      .filter(s => s.startedAt)
      .reduce(
        (sum, s) => sum + (Date.parse(s.updatedAt) - Date.parse(s.startedAt!)) / 3_600_000,
        0
      );
    assert.equal(ended.length, 2);
    assert.equal(all.length, 3, 'three sessions this month, all ended');

    const summary = async (url: string) =>
      (await (await fetch(`${url}/interlink/api/usage`, { headers })).json()) as UsageSummary;
    const before = await summary(server.url);
    assert.equal(before.month, new Date().toISOString().slice(0, 7));
    const local = before.sites[0];
    // three sessions of a few seconds each, one GPU and two cores apiece
    assert.ok(hours > 0.001, `${hours} h`);
    assert.ok(Math.abs(local.gpuHours - hours) < 0.0002, `${JSON.stringify(local)} vs ${hours}`);
    assert.ok(Math.abs(local.coreHours - 2 * hours) < 0.0003);
    assert.equal(local.budget, 'alice: 1234 of 5000 GPU-hours left');

    // A restarted server reads the month back from its state folder.
    await server.close();
    server = await start();
    assert.deepEqual(await summary(server.url), before);
  });
});
