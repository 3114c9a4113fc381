// wss:// to an IP literal through a named HTTPS proxy: the certificate is checked against the IP
// the agent dials, never against the proxy's name.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { selfSigned } from '../testing/certificate.js';
import { connectThroughProxy } from './proxy-dial.js';

describe('wss:// to an IP literal through a proxy', { timeout: 30_000 }, () => {
  let dir: string;
  let proxy: http.Server;
  let proxyUrl: URL;
  const servers: tls.Server[] = [];

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'interlink-ip-tls-'));
    // The proxy is known by a name (as proxy.site.example would be); it listens on both stacks.
    proxy = http.createServer((_req, res) => res.writeHead(405).end());
    proxy.on('connect', (req, client: net.Socket) => {
      const [host, port] = (req.url ?? '').split(':');
      const upstream = net.connect(Number(port), host, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.pipe(client);
        client.pipe(upstream);
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    await new Promise<void>(resolve => proxy.listen(0, '::', resolve));
    proxyUrl = new URL(`http://localhost:${(proxy.address() as AddressInfo).port}`);
  });
  after(async () => {
    proxy.closeAllConnections();
    await new Promise<void>(resolve => proxy.close(() => resolve()));
    for (const s of servers) await new Promise<void>(resolve => s.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  const serve = async (pair: { key: Buffer; cert: Buffer }): Promise<URL> => {
    const server = tls.createServer(pair, socket => socket.end());
    servers.push(server);
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
    return new URL(`wss://127.0.0.1:${(server.address() as AddressInfo).port}/interlink/tunnel`);
  };

  it('refuses a certificate for the proxy’s name', async () => {
    const pair = selfSigned(dir, 'name-only', 'DNS:localhost');
    const target = await serve(pair);
    await assert.rejects(
      connectThroughProxy(proxyUrl, target, { ca: pair.cert }),
      /TLS through the proxy failed: .*IP: 127\.0\.0\.1/
    );
  });

  it('accepts a certificate for the IP it dials', async () => {
    const pair = selfSigned(dir, 'ip-only', 'IP:127.0.0.1');
    const target = await serve(pair);
    const socket = await connectThroughProxy(proxyUrl, target, { ca: pair.cert });
    socket.destroy();
  });
});
