// Test harness: a minimal proxy front door around a TunnelEndpoint, wired the way the real server does
// it ({base}/tunnel for agents, {base}/sessions/{id}/… for browsers), on 127.0.0.1 only.
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { TunnelEndpoint, type TunnelEndpointOptions } from '../tunnel/endpoint.js';

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();

export interface Harness {
  base: string;
  port: number;
  tunnelUrl: string;
  endpoint: TunnelEndpoint;
  registry: Registry;
  /** Every JSON log line the endpoint wrote. */
  logs: string[];
  /** Agent connections (socket → claimed session), so a test can cut them like a network would. */
  tunnelSockets: Map<Socket, string>;
  /** Destroy the TCP connections of a session's agent. */
  cut(sessionId: string): number;
  secrets: Map<string, string>;
  sessionUrl(sessionId: string, rest?: string): string;
  waitUp(sessionId: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startHarness(
  endpointOptions: Partial<TunnelEndpointOptions> = {},
  opts: { tls?: { key: string | Buffer; cert: string | Buffer } } = {}
): Promise<Harness> {
  const base = '/interlink';
  const secrets = new Map<string, string>();
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(chunk.toString());
      cb();
    }
  });
  const registry = new Registry();
  const endpoint = new TunnelEndpoint({
    authorize(sessionId, secret) {
      const known = secrets.get(sessionId);
      if (known === undefined) return false;
      return timingSafeEqual(sha256(known), sha256(secret));
    },
    logger: pino({ level: 'debug' }, sink),
    registry,
    ...endpointOptions
  });
  const tunnelSockets = new Map<Socket, string>();
  const sessionPath = new RegExp(`^${base}/sessions/([^/?]+)(?:[/?]|$)`);
  const handler: http.RequestListener = (req, res) => {
    const m = sessionPath.exec(req.url ?? '');
    if (m) endpoint.proxyRequest(m[1], req, res);
    else if (req.url === `${base}/metrics`) {
      void registry.metrics().then(text => res.end(text));
    } else {
      res.writeHead(404).end();
    }
  };
  const server = opts.tls ? https.createServer(opts.tls, handler) : http.createServer(handler);
  server.on('upgrade', (req, socket: Socket, head) => {
    if (req.url === `${base}/tunnel`) {
      tunnelSockets.set(socket, String(req.headers['x-interlink-session']));
      socket.once('close', () => tunnelSockets.delete(socket));
      endpoint.handleUpgrade(req, socket, head);
      return;
    }
    const m = sessionPath.exec(req.url ?? '');
    if (m) endpoint.proxyUpgrade(m[1], req, socket, head);
    else socket.destroy();
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base,
    port,
    tunnelUrl: `${opts.tls ? 'wss' : 'ws'}://127.0.0.1:${port}${base}/tunnel`,
    endpoint,
    registry,
    logs,
    tunnelSockets,
    secrets,
    cut(sessionId) {
      let n = 0;
      for (const [socket, id] of tunnelSockets) {
        if (id === sessionId) {
          socket.destroy();
          n++;
        }
      }
      return n;
    },
    sessionUrl: (id, rest = '') =>
      `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}${base}/sessions/${id}/${rest}`,
    waitUp(sessionId, timeoutMs = 20_000) {
      if (endpoint.isUp(sessionId)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          endpoint.off('up', onUp);
          reject(new Error(`tunnel for ${sessionId} not up within ${timeoutMs} ms`));
        }, timeoutMs);
        const onUp = (id: string): void => {
          if (id !== sessionId) return;
          clearTimeout(timer);
          endpoint.off('up', onUp);
          resolve();
        };
        endpoint.on('up', onUp);
      });
    },
    async close() {
      await endpoint.close();
      server.closeAllConnections();
      await new Promise<void>(resolve => server.close(() => resolve()));
    }
  };
}

/** Collect a response body. */
export function request(
  url: string,
  options: https.RequestOptions = {},
  body?: Buffer | string
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const send = url.startsWith('https:') ? https.request : http.request;
    const req = send(url, { agent: false, ...options }, res => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) })
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A minimal HTTP CONNECT proxy on 127.0.0.1, recording what it was asked for. */
export async function startConnectProxy(): Promise<{
  url: string;
  seen: { target?: string; auth?: string }[];
  close(): Promise<void>;
}> {
  const seen: { target?: string; auth?: string }[] = [];
  const tunnels = new Set<net.Socket>();
  const proxy = http.createServer((_req, res) => res.writeHead(405).end());
  proxy.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    seen.push({ target: req.url, auth: req.headers['proxy-authorization'] });
    const [host, port] = (req.url ?? '').split(':');
    const upstream = net.connect(Number(port), host === 'localhost' ? '127.0.0.1' : host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    tunnels.add(client).add(upstream);
  });
  await new Promise<void>(resolve => proxy.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    seen,
    async close() {
      for (const socket of tunnels) socket.destroy();
      proxy.closeAllConnections();
      await new Promise<void>(resolve => proxy.close(() => resolve()));
    }
  };
}
