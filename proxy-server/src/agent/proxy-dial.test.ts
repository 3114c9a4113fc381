// The agent behind an outbound HTTP proxy, as on most HPC sites.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { bypassed, proxyFor } from './proxy-dial.js';
import { TunnelAgent } from './tunnel-agent.js';
import { request, startHarness } from '../testing/tunnel-harness.js';

describe('proxy selection', () => {
  it('uses HTTPS_PROXY for wss and HTTP_PROXY for ws, lower case too', () => {
    const env = { HTTPS_PROXY: 'http://secure:3128', http_proxy: 'plain:8080' };
    assert.equal(proxyFor(new URL('wss://hub.example/t'), env)?.host, 'secure:3128');
    assert.equal(proxyFor(new URL('ws://hub.example/t'), env)?.host, 'plain:8080');
    assert.equal(proxyFor(new URL('ws://hub.example/t'), {}), undefined);
  });

  it('follows NO_PROXY like curl', () => {
    assert.ok(bypassed('hub.example.org', 443, 'example.org'));
    assert.ok(bypassed('hub.example.org', 443, '.example.org'));
    assert.ok(bypassed('hub.example.org', 443, '*.example.org'));
    assert.ok(bypassed('example.org', 443, '.example.org'));
    assert.ok(!bypassed('badexample.org', 443, 'example.org'));
    assert.ok(bypassed('10.1.2.3', 80, 'localhost, 10.1.2.3'));
    assert.ok(bypassed('hub', 8443, 'hub:8443'));
    assert.ok(!bypassed('hub', 443, 'hub:8443'));
    assert.ok(bypassed('anything', 1, '*'));
    assert.ok(bypassed('::1', 80, '[::1]'));
  });
});

describe('agent through an HTTP CONNECT proxy', { timeout: 30_000 }, () => {
  it('dials the tunnel through the proxy, with proxy credentials', async () => {
    const h = await startHarness();
    const seen: { target?: string; auth?: string } = {};
    const proxy = http.createServer((_req, res) => res.writeHead(405).end());
    proxy.on('connect', (req, client: net.Socket, head) => {
      seen.target = req.url;
      seen.auth = req.headers['proxy-authorization'];
      const [host, port] = (req.url ?? '').split(':');
      const upstream = net.connect(Number(port), host, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length) upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    await new Promise<void>(resolve => proxy.listen(0, '127.0.0.1', resolve));
    const proxyPort = (proxy.address() as AddressInfo).port;

    const target = http.createServer((_req, res) => res.end('through the proxy'));
    await new Promise<void>(resolve => target.listen(0, '127.0.0.1', resolve));
    h.secrets.set('via-proxy', 'proxy-secret-0123456789');
    const agent = new TunnelAgent({
      url: h.tunnelUrl,
      sessionId: 'via-proxy',
      secret: 'proxy-secret-0123456789',
      target: {
        host: '127.0.0.1',
        port: (target.address() as AddressInfo).port,
        basePath: '/interlink/sessions/via-proxy/'
      },
      env: { HTTP_PROXY: `http://user:p%40ss@127.0.0.1:${proxyPort}`, NO_PROXY: 'other.example' }
    });
    agent.start();
    await h.waitUp('via-proxy');
    assert.equal(seen.target, `127.0.0.1:${h.port}`);
    assert.equal(seen.auth, `Basic ${Buffer.from('user:p@ss').toString('base64')}`);
    const res = await request(h.sessionUrl('via-proxy', 'x'));
    assert.equal(res.body.toString(), 'through the proxy');
    await agent.stop();
    proxy.closeAllConnections();
    target.closeAllConnections();
    await new Promise<void>(resolve => proxy.close(() => resolve()));
    await new Promise<void>(resolve => target.close(() => resolve()));
    await h.close();
  });

  it('retries with backoff while the proxy refuses', async () => {
    const proxy = http.createServer();
    proxy.on('connect', (_req, client: net.Socket) => {
      client.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
    });
    await new Promise<void>(resolve => proxy.listen(0, '127.0.0.1', resolve));
    const lines: string[] = [];
    const agent = new TunnelAgent({
      url: 'wss://hub.invalid/interlink/tunnel',
      sessionId: 's',
      secret: 'x',
      target: { host: '127.0.0.1', port: 1, basePath: '/s/' },
      env: { HTTP_PROXY: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}` },
      initialDelayMs: 20,
      maxDelayMs: 40,
      log: line => lines.push(line)
    });
    agent.start();
    while (lines.length < 3) await new Promise(r => setTimeout(r, 20));
    await agent.stop();
    assert.match(lines[0], /the proxy refused the tunnel \(HTTP 403\), retrying in \d+\.\ds/);
    proxy.closeAllConnections();
    await new Promise<void>(resolve => proxy.close(() => resolve()));
  });
});
