/**
 * A site's idle limit, on the embedded local site with a real agent, Jupyter server and kernel:
 * a kernel session left idle gets a warning pushed to its owner; "keep running" (the owner only)
 * takes it back; busy kernels are never idle; left alone it stops with the reason in words.
 * A batch job on the same site runs past the limit.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Session } from '@jupyterlab-interlink/contract';
import { defaultLocalSite } from '@jupyterlab-interlink/vk-bridge';
import { lastActive, idleVerdict } from './idle.js';
import { readEvents, waitForEvent } from './testing/events.js';
import { KernelChannel, startKernel } from './testing/kernel-client.js';
import { startLocalProxy, type LocalProxy } from './testing/local-proxy.js';

describe('the idle rules', () => {
  it('reads activity from the kernels, and warns, then stops, on the site’s clock', () => {
    const t0 = Date.parse('2026-12-05T10:00:00Z');
    const kernels = [
      { execution_state: 'idle', last_activity: '2026-12-05T10:05:00Z' },
      { execution_state: 'idle', last_activity: '2026-12-05T10:07:00Z' }
    ];
    assert.equal(lastActive(kernels, t0, t0 + 3_600_000), Date.parse('2026-12-05T10:07:00Z'));
    assert.equal(lastActive([{ execution_state: 'busy' }], t0, t0 + 5), t0 + 5);
    assert.equal(lastActive([], t0, t0 + 5), t0, 'no kernel: idle since the start');
    const idle = { limit: 3600 };
    const words = (s: number) => `${s / 60} min`;
    assert.equal(idleVerdict(idle, t0, t0 + 2_000_000, words).kind, 'active');
    // a quarter of an hour's limit, at most ten minutes, before the stop
    assert.deepEqual(idleVerdict(idle, t0, t0 + 3_000_000 + 1, words), {
      kind: 'warn',
      since: t0,
      stopsAt: t0 + 3_600_000
    });
    assert.deepEqual(idleVerdict(idle, t0, t0 + 3_600_000, words), {
      kind: 'stop',
      reason: "stopped after 60 min without kernel activity (the site's idle limit)"
    });
  });
});

describe('a site with an idle limit', () => {
  let proxy: LocalProxy;
  // Short, so the test sees warning and stop: warned after 4 s idle, stopped after 12 s.
  before(async () => {
    proxy = await startLocalProxy({
      sites: [{ ...defaultLocalSite(), idle: { limit: 12, warnBefore: 8 } }],
      idleCheckMs: 500
    });
  });
  after(() => proxy?.close());

  it('warns the owner, lets them keep it, then stops it with the reason; never a job', async () => {
    const events = readEvents(await proxy.request('alice', '/events'));
    const launch = async (body: object) => {
      const res = await proxy.request('alice', '/sessions', {
        method: 'POST',
        body: JSON.stringify(body)
      });
      assert.equal(res.status, 201);
      return ((await res.json()) as Session).id;
    };
    const job = await launch({
      site: 'local',
      profile: 'small',
      type: 'job',
      command: ['sleep', '30']
    });
    const id = await launch({ site: 'local', profile: 'small', type: 'kernel' });
    const change = (test: (s: Session) => boolean, what: string) =>
      waitForEvent(
        events,
        e => e.event === 'session' && (e.data as Session).id === id && test(e.data as Session),
        what,
        30_000
      ).then(e => e.data as Session);

    await change(s => s.state === 'ready', 'ready');
    // A kernel that works is not idle: a 6 s cell keeps the session out of the warning.
    const session = (await (await proxy.request('alice', `/sessions/${id}`)).json()) as Session;
    const remote = {
      baseUrl: `${proxy.server.url}${session.url}`,
      headers: proxy.headers('alice')
    };
    const channel = await KernelChannel.open(remote, await startKernel(remote));
    const busyFrom = Date.now();
    await channel.execute('import time; time.sleep(6); print("done")');
    channel.close();

    // (A warning may have come and gone before the cell: the session sat idle while it began.)
    const warned = await change(
      s => !!s.idle && Date.parse(s.idle.since) > busyFrom,
      'the idle warning after the cell'
    );
    assert.ok(
      Date.parse(warned.idle!.since) >= busyFrom + 5_000,
      'idle counts from the end of the cell, not from the start'
    );
    assert.equal(
      Date.parse(warned.idle!.stopsAt) - Date.parse(warned.idle!.since),
      12_000,
      'stops at the limit after the last activity'
    );

    // Only the owner may keep it.
    assert.equal(
      (await proxy.request('bob', `/sessions/${id}/keep`, { method: 'POST' })).status,
      404
    );
    const kept = await proxy.request('alice', `/sessions/${id}/keep`, { method: 'POST' });
    assert.equal(kept.status, 200);
    assert.equal(((await kept.json()) as Session).idle, undefined);
    await change(s => s.state === 'ready' && !s.idle, 'the warning withdrawn');

    const stopped = await change(s => s.state === 'cancelled', 'the stop');
    assert.equal(
      stopped.reason,
      "stopped after 0:00:12 without kernel activity (the site's idle limit)"
    );

    // The batch job on the same site ran on (it sleeps 30 s; the limit is 12 s).
    const jobNow = (await (await proxy.request('alice', `/sessions/${job}`)).json()) as Session;
    assert.ok(['starting', 'ready', 'completed'].includes(jobNow.state), jobNow.state);
    assert.notEqual(jobNow.state, 'cancelled');
    await proxy.request('alice', `/sessions/${job}`, { method: 'DELETE' });
    await events.return(undefined);
  });
});
