// The agent's own check on declared ports, behind a front door that does not check them (the
// harness forwards every {base}/sessions/{id}/… path): it forwards ports/{port}/ only to a
// declared port on loopback, path unchanged and without the Jupyter server's token, and refuses
// any other port, its Jupyter server's included.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startHarness, request, type Harness } from '../testing/tunnel-harness.js';
import { TunnelAgent } from './tunnel-agent.js';

const TOKEN = 'jupyter-token-0123';

/** A loopback server that answers with what it received. */
async function recorder(
  name: string
): Promise<{ server: http.Server; port: number; hits: string[] }> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({ name, path: req.url, authorization: req.headers.authorization ?? null })
    );
  });
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, hits };
}

describe('agent forwarding of declared ports', () => {
  let h: Harness;
  let agent: TunnelAgent;
  let jupyter: Awaited<ReturnType<typeof recorder>>;
  let app: Awaited<ReturnType<typeof recorder>>;
  let other: Awaited<ReturnType<typeof recorder>>;
  const id = 'ports-session';

  before(async () => {
    [jupyter, app, other] = await Promise.all([
      recorder('jupyter'),
      recorder('app'),
      recorder('other')
    ]);
    h = await startHarness();
    const secret = randomBytes(32).toString('hex');
    h.secrets.set(id, secret);
    agent = new TunnelAgent({
      url: h.tunnelUrl,
      sessionId: id,
      secret,
      target: {
        host: '127.0.0.1',
        port: jupyter.port,
        basePath: `/interlink/sessions/${id}/`,
        token: TOKEN
      },
      ports: [app.port],
      env: {},
      initialDelayMs: 50
    });
    agent.start();
    await h.waitUp(id);
  });
  after(async () => {
    await agent?.stop();
    await h?.close();
    for (const s of [jupyter, app, other]) s?.server.close();
  });

  it('forwards a declared port with the path unchanged and no Jupyter token', async () => {
    const res = await request(h.sessionUrl(id, `ports/${app.port}/data?run=1`));
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.body.toString()), {
      name: 'app',
      path: `/interlink/sessions/${id}/ports/${app.port}/data?run=1`,
      authorization: null
    });
    // The Jupyter server still gets its token.
    const lab = await request(h.sessionUrl(id, 'api/status'));
    assert.equal(JSON.parse(lab.body.toString()).authorization, `token ${TOKEN}`);
  });

  it('refuses an undeclared port, the Jupyter server’s port and a malformed one', async () => {
    for (const port of [other.port, jupyter.port, 'x']) {
      const res = await request(h.sessionUrl(id, `ports/${port}/`));
      assert.equal(res.status, 404, String(port));
      const body = JSON.parse(res.body.toString()) as { error: string; message: string };
      assert.equal(body.error, 'agent_refused');
      assert.match(
        body.message,
        new RegExp(`not declared by this session; declared: ${app.port}$`)
      );
    }
    assert.deepEqual(other.hits, [], 'nothing reached the undeclared port');
    assert.ok(!jupyter.hits.some(p => p.includes('/ports/')), 'nor the Jupyter server');
  });
});
