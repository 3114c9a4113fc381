// Refusals are counted by route; made-up paths must not make up label values (each a series
// kept in memory for the life of the process).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { defaultLocalSite } from '@jupyterlab-interlink/vk-bridge';
import { TokenAuthenticator, startProxyServer, type RunningProxyServer } from './index.js';
import { createLogger } from './logging.js';
import { ROUTE_NAMES, routeName } from './route-names.js';

const TOKEN = 'metrics-token-0123456789';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapAfterGc(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

describe('route names', () => {
  it('maps any path to one of a fixed list', () => {
    assert.equal(routeName('/api/sessions/abc/logs'), 'api_sessions');
    assert.equal(routeName('/sessions/abc/api/kernels'), 'sessions');
    assert.equal(routeName('/probe-123'), 'other');
    assert.equal(routeName('/api/probe-123'), 'api_other');
    for (const p of ['/', '/x', '/api/sites', '/metrics', '/healthz', '/tunnel']) {
      assert.ok((ROUTE_NAMES as readonly string[]).includes(routeName(p)), p);
    }
  });
});

describe('100,000 distinct refused paths', { timeout: 600_000 }, () => {
  let server: RunningProxyServer;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

  before(async () => {
    server = await startProxyServer({
      sites: [defaultLocalSite()],
      auth: new TokenAuthenticator(TOKEN, 'alice'),
      logger: createLogger('warn')
    });
  });
  after(async () => {
    agent.destroy();
    await server?.close();
  });

  const refusedSeries = async (): Promise<number> => {
    const res = await fetch(`${server.url}/interlink/metrics`, {
      headers: { authorization: `token ${TOKEN}` }
    });
    const text = await res.text();
    return text.split('\n').filter(l => l.startsWith('interlink_refused_total{')).length;
  };

  const probe = (i: number): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = http.get(`${server.url}/interlink/probe-${i}/x`, { agent }, res => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
    });

  const sweep = async (from: number, count: number): Promise<void> => {
    let next = from;
    const worker = async () => {
      while (next < from + count) {
        const status = await probe(next++);
        assert.equal(status, 401);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
  };

  it('leave the refusal metric and the heap flat', async () => {
    await sweep(0, 2_000); // warm-up: lazily built structures, sockets
    const seriesBefore = await refusedSeries();
    const heapBefore = heapAfterGc();
    await sweep(2_000, 100_000);
    const seriesAfter = await refusedSeries();
    const heapAfter = heapAfterGc();
    const grownMiB = (heapAfter - heapBefore) / 2 ** 20;
    console.log(
      `refused series ${seriesBefore} -> ${seriesAfter}; heap ${(heapBefore / 2 ** 20).toFixed(1)} -> ${(heapAfter / 2 ** 20).toFixed(1)} MiB`
    );
    assert.ok(seriesAfter <= ROUTE_NAMES.length * 4, `refused series: ${seriesAfter}`);
    assert.equal(seriesAfter, seriesBefore);
    assert.ok(grownMiB < 16, `heap grew ${grownMiB.toFixed(1)} MiB`);
  });
});
