// The agent over wss://, directly and through an HTTP CONNECT proxy.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { selfSigned } from '../testing/certificate.js';
import { TunnelAgent } from './tunnel-agent.js';
import {
  request,
  startConnectProxy,
  startHarness,
  type Harness
} from '../testing/tunnel-harness.js';

describe('agent over wss://', { timeout: 30_000 }, () => {
  let dir: string;
  let cert: Buffer;
  let h: Harness;
  let target: http.Server;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'interlink-tls-'));
    const made = selfSigned(dir, 'localhost', 'DNS:localhost,IP:127.0.0.1');
    cert = made.cert;
    h = await startHarness({}, { tls: { key: made.key, cert } });
    target = http.createServer((req, res) => res.end(`over TLS: ${req.url}`));
    await new Promise<void>(resolve => target.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    target.closeAllConnections();
    await new Promise<void>(resolve => target.close(() => resolve()));
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const agentFor = (sessionId: string, env: Record<string, string>, ca?: Buffer): TunnelAgent => {
    h.secrets.set(sessionId, `${sessionId}-secret-0123456789`);
    return new TunnelAgent({
      url: h.tunnelUrl,
      sessionId,
      secret: `${sessionId}-secret-0123456789`,
      target: {
        host: '127.0.0.1',
        port: (target.address() as AddressInfo).port,
        basePath: `/interlink/sessions/${sessionId}/`
      },
      env,
      ca,
      initialDelayMs: 20,
      maxDelayMs: 50
    });
  };

  it('connects with a trusted certificate', async () => {
    assert.match(h.tunnelUrl, /^wss:/);
    const agent = agentFor('tls-direct', {}, cert);
    agent.start();
    await h.waitUp('tls-direct');
    const res = await request(h.sessionUrl('tls-direct', 'a'), { ca: cert });
    assert.equal(res.body.toString(), 'over TLS: /interlink/sessions/tls-direct/a');
    await agent.stop();
  });

  it('connects through an HTTP CONNECT proxy (HTTPS_PROXY)', async () => {
    const proxy = await startConnectProxy();
    const agent = agentFor('tls-proxy', { HTTPS_PROXY: proxy.url }, cert);
    agent.start();
    await h.waitUp('tls-proxy');
    assert.equal(proxy.seen[0].target, `127.0.0.1:${h.port}`);
    const res = await request(h.sessionUrl('tls-proxy', 'b'), { ca: cert });
    assert.equal(res.body.toString(), 'over TLS: /interlink/sessions/tls-proxy/b');
    await agent.stop();
    await proxy.close();
  });

  it('refuses a server it cannot verify, and keeps retrying', async () => {
    const lines: string[] = [];
    const agent = agentFor('tls-untrusted', {});
    const quiet = new TunnelAgent({ ...agentOptions(agent), log: l => lines.push(l) });
    quiet.start();
    while (lines.length < 2) await new Promise(r => setTimeout(r, 20));
    await quiet.stop();
    assert.equal(h.endpoint.isUp('tls-untrusted'), false);
    assert.match(
      lines[0],
      /tunnel connection failed \(.*(self[- ]signed|certificate).*\), retrying in/i
    );
  });
});

function agentOptions(agent: TunnelAgent): ConstructorParameters<typeof TunnelAgent>[0] {
  return (agent as unknown as { options: ConstructorParameters<typeof TunnelAgent>[0] }).options;
}
