// What the tunnel remembers, and how much it logs, stays bounded whatever agents (or anyone
// dialling the tunnel) do.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BoundedSet } from './bounded-set.js';
import { logLimit } from './log-limit.js';
import { startHarness } from './testing/tunnel-harness.js';
import { upgradeStatus } from './testing/upgrade.js';

describe('bounded set', () => {
  it('forgets the oldest past its cap; re-adding refreshes', () => {
    const set = new BoundedSet<number>(3);
    for (const n of [1, 2, 3]) set.add(n);
    set.add(1);
    set.add(4);
    assert.equal(set.size, 3);
    assert.ok(!set.has(2));
    assert.ok(set.has(1) && set.has(3) && set.has(4));
    assert.throws(() => new BoundedSet(0), /cap/);
  });
});

describe('log limit', () => {
  it('writes at most max lines a window, then says how many it left out', () => {
    let t = 0;
    const limit = logLimit(2, 1000, () => t);
    const lines: number[] = [];
    for (let i = 0; i < 5; i++) limit(s => lines.push(s));
    t = 1000;
    limit(s => lines.push(s));
    assert.deepEqual(lines, [0, 0, 3]);
  });
});

describe('the tunnel under refusals', { timeout: 120_000 }, () => {
  it('remembers a bounded number of ended sessions, the newest still refused as ended', async () => {
    const h = await startHarness();
    try {
      for (let i = 0; i < 50_000; i++) h.endpoint.revoke(`ended-${i}`);
      const revoked = (h.endpoint as unknown as { revoked: { size: number } }).revoked;
      assert.ok(revoked.size <= 10_000, `remembers ${revoked.size} ended sessions`);
      const status = await upgradeStatus(h.tunnelUrl, {
        authorization: 'Bearer whatever',
        'x-interlink-session': 'ended-49999'
      });
      assert.equal(status, 403);
      assert.ok(h.logs.some(l => /"reason":"session_ended"/.test(l)));
    } finally {
      await h.close();
    }
  });

  it('logs refused connections at a bounded rate, and counts every one', async () => {
    const h = await startHarness();
    try {
      for (let i = 0; i < 300; i++) assert.equal(await upgradeStatus(h.tunnelUrl, {}), 401);
      const lines = h.logs.filter(l => /tunnel connection refused/.test(l));
      assert.ok(lines.length <= 20, `${lines.length} log lines for 300 refusals`);
      const metrics = await h.registry.metrics();
      assert.match(
        metrics,
        /interlink_tunnel_upgrades_refused_total\{reason="missing_credentials"\} 300/
      );
    } finally {
      await h.close();
    }
  });
});
