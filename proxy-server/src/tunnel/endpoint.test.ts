// The tunnel endpoint and the agent together, in one process, in front of a small stand-in for the remote
// Jupyter server that reports what it received. (The real jupyter_server is in agent/*.test.ts.)
import { after, before, describe, it } from 'node:test';
import type { AgentInfo } from '@jupyterlab-interlink/contract';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import { createProxyServer } from 'http-proxy-3';
import { WebSocket, WebSocketServer } from 'ws';
import { TunnelAgent, type EndReason } from '../agent/tunnel-agent.js';
import { startHarness, request, sha256Hex, type Harness } from '../testing/tunnel-harness.js';
import { webSocketDuplex } from './ws-duplex.js';
import { TUNNEL_UPGRADE } from './protocol.js';

const REMOTE_TOKEN = 'remote-server-token-0123456789';
const BLOB = randomBytes(24 * 1024 * 1024 + 123);

interface Remote {
  port: number;
  /** Responses the remote side saw cut off before they finished. */
  aborted: number;
  seen: http.IncomingHttpHeaders[];
  upgrades: http.IncomingHttpHeaders[];
  close(): Promise<void>;
}

/** Stand-in remote server: echoes what it got, serves a blob, hashes uploads, echoes WebSockets. */
async function startRemote(): Promise<Remote> {
  const seen: http.IncomingHttpHeaders[] = [];
  const upgrades: http.IncomingHttpHeaders[] = [];
  const strip = (url: string): string => url.replace(/^\/interlink\/sessions\/[^/]+\//, '/');
  const remote: Remote = {
    port: 0,
    aborted: 0,
    seen,
    upgrades,
    async close() {
      for (const client of wss.clients) client.terminate();
      server.closeAllConnections();
      await new Promise<void>(resolve => server.close(() => resolve()));
    }
  };
  const server = http.createServer((req, res) => {
    seen.push(req.headers);
    const url = strip(req.url ?? '');
    if (req.headers.authorization !== `token ${REMOTE_TOKEN}`) {
      res.writeHead(403).end('no token');
    } else if (url.startsWith('/echo')) {
      res.setHeader('Set-Cookie', 'planted=1; Path=/');
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers }));
    } else if (url === '/blob') {
      res.writeHead(200, {
        'Content-Length': BLOB.length,
        'Content-Type': 'application/octet-stream'
      });
      res.end(BLOB);
    } else if (url.startsWith('/stream')) {
      // Honours back-pressure, so a stalled reader shows where bytes pile up.
      const total = 64 * 1024 * 1024;
      const chunk = Buffer.alloc(64 * 1024, 7);
      let sent = 0;
      res.writeHead(200, { 'Content-Length': total });
      res.on('close', () => {
        if (!res.writableFinished) remote.aborted++;
      });
      const pump = (): void => {
        while (sent < total) {
          sent += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
    } else if (url === '/upload') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        res.end(JSON.stringify({ length: body.length, sha256: sha256Hex(body) }));
      });
    } else {
      res.writeHead(404).end();
    }
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    upgrades.push(req.headers);
    if (req.headers.authorization !== `token ${REMOTE_TOKEN}`) {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, ws => {
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    });
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  remote.port = (server.address() as AddressInfo).port;
  return remote;
}

type Transport = 'auto' | 'websocket';

function agentFor(
  h: Harness,
  remote: Remote,
  sessionId: string,
  secret?: string,
  transport: Transport = 'auto',
  url = h.tunnelUrl,
  self?: { pid: number; host: string }
): TunnelAgent {
  const s = secret ?? randomBytes(32).toString('hex');
  if (secret === undefined) h.secrets.set(sessionId, s);
  return new TunnelAgent({
    url,
    transport,
    sessionId,
    secret: s,
    target: {
      host: '127.0.0.1',
      port: remote.port,
      basePath: `/interlink/sessions/${sessionId}/`,
      token: REMOTE_TOKEN
    },
    env: {},
    self,
    initialDelayMs: 50,
    maxDelayMs: 400,
    maxRefusals: 2
  });
}

function waitEnded(agent: TunnelAgent): Promise<EndReason> {
  return new Promise(resolve => agent.once('ended', reason => resolve(reason)));
}

/** Try a tunnel handshake and return the HTTP status of the refusal (or 101). */
function handshakeStatus(
  h: Harness,
  headers: Record<string, string>,
  transport: Transport = 'websocket'
): Promise<number> {
  if (transport === 'auto') {
    return new Promise(resolve => {
      rawUpgrade(h, headers).then(
        socket => {
          socket.destroy();
          resolve(101);
        },
        (err: Error & { status?: number }) => resolve(err.status ?? -1)
      );
    });
  }
  return new Promise(resolve => {
    const ws = new WebSocket(h.tunnelUrl, { headers });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.on('open', () => {
      resolve(101);
      ws.terminate();
    });
    ws.on('error', () => {});
  });
}

/** An agent's raw HTTP/2 upgrade, made by hand: the upgraded socket, or the refusal's status. */
function rawUpgrade(h: Harness, headers: Record<string, string>): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const req = http.request(h.tunnelUrl.replace('ws:', 'http:'), {
      headers: { Connection: 'Upgrade', Upgrade: TUNNEL_UPGRADE, ...headers }
    });
    req.once('upgrade', (_res, socket: net.Socket) => resolve(socket));
    req.once('response', res => {
      res.resume();
      reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode }));
    });
    req.once('error', reject);
    req.end();
  });
}

async function metricValue(h: Harness, name: string, labels: Record<string, string> = {}) {
  const metric = await h.registry.getSingleMetric(name)!.get();
  return metric.values
    .filter(v => Object.entries(labels).every(([k, want]) => v.labels[k] === want))
    .reduce((n, v) => n + v.value, 0);
}

function openWs(url: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise(resolve =>
    ws.once('message', (data: Buffer, isBinary) => resolve({ data, isBinary }))
  );
}

for (const transport of ['auto', 'websocket'] as const) {
  describe(`tunnel endpoint with an agent (transport: ${transport})`, { timeout: 60_000 }, () => {
    let h: Harness;
    let remote: Remote;
    let agentA: TunnelAgent;
    const newAgent = (sessionId: string, secret?: string): TunnelAgent =>
      agentFor(h, remote, sessionId, secret, transport);

    before(async () => {
      h = await startHarness({ pingIntervalMs: 1_000 });
      remote = await startRemote();
      agentA = newAgent('sess-a');
      agentA.start();
      await h.waitUp('sess-a');
    });

    it('runs HTTP/2 on the connection itself unless told to use a WebSocket', async () => {
      const want = transport === 'auto' ? 'raw' : 'websocket';
      assert.equal(
        await metricValue(h, 'interlink_tunnel_connections_total', { transport: want }),
        1
      );
      assert.equal(await metricValue(h, 'interlink_tunnel_connections_total'), 1);
    });

    it('keeps a tunnel that answers pings, and serves through it', async () => {
      // Pings every second here; a peer that missed one would have been dropped.
      await new Promise(r => setTimeout(r, 2_500));
      assert.ok(h.endpoint.isUp('sess-a'));
      assert.equal((await request(h.sessionUrl('sess-a', 'echo'))).status, 200);
    });

    after(async () => {
      await agentA.stop();
      await h.close();
      await remote.close();
    });

    it('forwards requests without the browser’s credentials and adds the remote token', async () => {
      const res = await request(
        h.sessionUrl('sess-a', 'echo?a=1&token=browser-secret&b=x%20y&%74oken=again'),
        {
          headers: {
            Authorization: 'token browser-secret',
            Cookie: 'session=browser-cookie',
            'X-Custom': 'kept'
          }
        }
      );
      assert.equal(res.status, 200);
      const echoed = JSON.parse(res.body.toString()) as {
        url: string;
        headers: Record<string, string>;
      };
      assert.equal(echoed.url, '/interlink/sessions/sess-a/echo?a=1&b=x%20y');
      assert.equal(echoed.headers.authorization, `token ${REMOTE_TOKEN}`);
      assert.equal(echoed.headers.cookie, undefined);
      assert.equal(echoed.headers['x-custom'], 'kept');
      assert.equal(res.headers['set-cookie'], undefined, 'the remote job cannot plant cookies');
      const all = JSON.stringify(remote.seen);
      assert.ok(!all.includes('browser-secret') && !all.includes('browser-cookie'));
    });

    it('carries a large binary download intact', async () => {
      const res = await request(h.sessionUrl('sess-a', 'blob'));
      assert.equal(res.status, 200);
      assert.equal(res.body.length, BLOB.length);
      assert.equal(sha256Hex(res.body), sha256Hex(BLOB));
    });

    it('carries a large POST body intact', async () => {
      const body = randomBytes(9 * 1024 * 1024 + 7);
      const res = await request(h.sessionUrl('sess-a', 'upload'), { method: 'POST' }, body);
      assert.equal(res.status, 200);
      assert.deepEqual(JSON.parse(res.body.toString()), {
        length: body.length,
        sha256: sha256Hex(body)
      });
    });

    it('relays WebSockets both ways, binary and text, with no size cap, without Origin or credentials', async () => {
      const url = h.sessionUrl('sess-a', 'ws?token=browser-secret').replace('http:', 'ws:');
      const ws = await openWs(url, {
        Origin: 'http://evil.example',
        Cookie: 'session=browser-cookie'
      });
      const big = randomBytes(12 * 1024 * 1024);
      ws.send(big);
      const got = await nextMessage(ws);
      assert.ok(got.isBinary);
      assert.equal(sha256Hex(got.data), sha256Hex(big));
      ws.send('hello');
      const text = await nextMessage(ws);
      assert.equal(text.isBinary, false);
      assert.equal(text.data.toString(), 'hello');
      ws.close();
      const upgrade = remote.upgrades.at(-1)!;
      assert.equal(upgrade.origin, undefined);
      assert.equal(upgrade.cookie, undefined);
      assert.equal(upgrade.authorization, `token ${REMOTE_TOKEN}`);
    });

    it('keeps kernel-sized messages flowing while a big download is in progress', async () => {
      const url = h.sessionUrl('sess-a', 'ws').replace('http:', 'ws:');
      const ws = await openWs(url);
      const download = request(h.sessionUrl('sess-a', 'blob'));
      for (let i = 0; i < 20; i++) {
        ws.send(`ping ${i}`);
        assert.equal((await nextMessage(ws)).data.toString(), `ping ${i}`);
      }
      ws.close();
      assert.equal(sha256Hex((await download).body), sha256Hex(BLOB));
    });

    it('does not buffer without bound for a browser that stops reading', async () => {
      const bytesFromAgent = async (): Promise<number> => {
        const metric = await h.registry.getSingleMetric('interlink_tunnel_bytes_total')!.get();
        return metric.values.find(v => v.labels.direction === 'from_agent')?.value ?? 0;
      };
      const before = await bytesFromAgent();
      const received = await new Promise<number>((resolve, reject) => {
        const req = http.get(h.sessionUrl('sess-a', 'stream'), { agent: false }, res => {
          let n = 0;
          res.on('data', (c: Buffer) => {
            n += c.length;
            if (n > 1024 * 1024 && !res.isPaused()) {
              res.pause();
              setTimeout(() => {
                req.destroy();
                resolve(n);
              }, 1_500);
            }
          });
        });
        req.on('error', reject);
      });
      const crossed = (await bytesFromAgent()) - before;
      assert.ok(received < 64 * 1024 * 1024);
      // The stream's window (1 MiB) plus socket buffers, far below the 64 MiB on offer.
      assert.ok(
        crossed < 24 * 1024 * 1024,
        `${crossed} bytes crossed the tunnel for a stalled reader`
      );
    });

    it('cancels the remote request when the browser goes away mid-download', async () => {
      const openStreams = async (): Promise<number> => {
        const metric = await h.registry.getSingleMetric('interlink_tunnel_streams_open')!.get();
        return metric.values.reduce((n, v) => n + v.value, 0);
      };
      const abortedBefore = remote.aborted;
      await new Promise<void>((resolve, reject) => {
        const req = http.get(h.sessionUrl('sess-a', 'stream'), { agent: false }, res => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', err => (req.destroyed ? undefined : reject(err)));
      });
      for (let i = 0; i < 100 && (await openStreams()) > 0; i++) {
        await new Promise(r => setTimeout(r, 20));
      }
      assert.equal(await openStreams(), 0, 'no tunnel stream left open');
      for (let i = 0; i < 100 && remote.aborted === abortedBefore; i++) {
        await new Promise(r => setTimeout(r, 20));
      }
      assert.ok(remote.aborted > abortedBefore, 'the remote server saw the request cancelled');
      assert.equal((await request(h.sessionUrl('sess-a', 'echo'))).status, 200);
    });

    it('answers 502 with JSON when the session has no tunnel', async () => {
      const res = await request(h.sessionUrl('sess-none', 'api/status'));
      assert.equal(res.status, 502);
      const body = JSON.parse(res.body.toString()) as { error: string; message: string };
      assert.equal(body.error, 'tunnel_down');
      assert.ok(body.message.length > 10);
      await assert.rejects(openWs(h.sessionUrl('sess-none', 'ws').replace('http:', 'ws:')), /502/);
    });

    it('refuses agents without, with a wrong, or with another session’s secret', async () => {
      h.secrets.set('sess-b', 'secret-of-b-0123456789abcdef');
      assert.equal(await handshakeStatus(h, {}, transport), 401);
      assert.equal(await handshakeStatus(h, { 'X-Interlink-Session': 'sess-b' }, transport), 401);
      assert.equal(
        await handshakeStatus(
          h,
          { 'X-Interlink-Session': 'sess-b', Authorization: 'Bearer wrong' },
          transport
        ),
        403
      );
      const secretA = h.secrets.get('sess-a')!;
      assert.equal(
        await handshakeStatus(
          h,
          { 'X-Interlink-Session': 'sess-b', Authorization: `Bearer ${secretA}` },
          transport
        ),
        403
      );
      const agent = newAgent('sess-c', 'not-the-secret');
      const ended = waitEnded(agent);
      agent.start();
      assert.equal(await ended, 'refused');
      await agent.stop();
      const refused = await h.registry
        .getSingleMetric('interlink_tunnel_upgrades_refused_total')!
        .get();
      assert.ok(refused.values.reduce((n, v) => n + v.value, 0) >= 4);
      assert.ok(h.endpoint.isUp('sess-a'));
    });

    it('survives garbage from an authenticated agent; other sessions keep working', async () => {
      h.secrets.set('sess-g', 'garbage-secret-0123456789');
      if (transport === 'auto') {
        const frame = (type: number, flags: number, stream: number, payload: Buffer): Buffer => {
          const head = Buffer.alloc(9);
          head.writeUIntBE(payload.length, 0, 3);
          head.writeUInt8(type, 3);
          head.writeUInt8(flags, 4);
          head.writeUInt32BE(stream, 5);
          return Buffer.concat([head, payload]);
        };
        for (const payload of [
          randomBytes(4096),
          Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
          // A server preface whose SETTINGS frame claims 16 MiB, then junk.
          Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0x04, 0, 0, 0, 0, 0]), randomBytes(256)]),
          // Valid SETTINGS, then HEADERS with an undecodable header block, then a huge frame.
          Buffer.concat([
            frame(4, 0, 0, Buffer.alloc(0)),
            frame(1, 4, 1, randomBytes(64)),
            frame(0, 0, 1, randomBytes(70_000))
          ])
        ]) {
          const socket = await rawUpgrade(h, {
            'X-Interlink-Session': 'sess-g',
            Authorization: 'Bearer garbage-secret-0123456789'
          });
          const closed = new Promise<void>(resolve => socket.once('close', () => resolve()));
          socket.on('error', () => {});
          socket.resume();
          socket.write(payload);
          await closed;
          assert.equal(h.endpoint.isUp('sess-g'), false);
          assert.equal((await request(h.sessionUrl('sess-a', 'echo'))).status, 200);
        }
        return;
      }
      for (const payload of [
        randomBytes(4096),
        'text is not allowed',
        Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\xff\xff\xff\xff')
      ]) {
        const ws = await openWs(h.tunnelUrl, {
          'X-Interlink-Session': 'sess-g',
          Authorization: 'Bearer garbage-secret-0123456789'
        });
        const closed = new Promise<void>(resolve => ws.once('close', () => resolve()));
        ws.on('error', () => {});
        ws.send(payload);
        await closed;
      }
      assert.equal(h.endpoint.isUp('sess-g'), false);
      const res = await request(h.sessionUrl('sess-a', 'echo'));
      assert.equal(res.status, 200);
    });

    it('lets another agent with the secret take over, says so, and the first keeps coming back', async () => {
      const agents: [string, AgentInfo, AgentInfo | undefined][] = [];
      const onAgent = (id: string, holder: AgentInfo, replaced: AgentInfo | undefined) => {
        if (id === 'sess-r') agents.push([id, holder, replaced]);
      };
      h.endpoint.on('agent', onAgent);
      const first = agentFor(h, remote, 'sess-r', undefined, transport, h.tunnelUrl, {
        pid: 1111,
        host: 'gpu-node-1'
      });
      first.start();
      await h.waitUp('sess-r');
      const second = agentFor(
        h,
        remote,
        'sess-r',
        h.secrets.get('sess-r'),
        transport,
        h.tunnelUrl,
        {
          pid: 2222,
          host: 'elsewhere'
        }
      );
      let ended = false;
      first.once('ended', () => (ended = true));
      second.start();
      // The takeover is announced with both agents, and the newcomer serves.
      while (agents.length < 2) await new Promise(r => setTimeout(r, 20));
      assert.deepEqual(
        [agents[1][1].host, agents[1][1].pid, agents[1][2]?.host, agents[1][2]?.pid],
        ['elsewhere', 2222, 'gpu-node-1', 1111]
      );
      assert.equal((await request(h.sessionUrl('sess-r', 'echo'))).status, 200);
      // The displaced agent does not give up: it dials again and takes the tunnel back.
      while (agents.length < 3) await new Promise(r => setTimeout(r, 20));
      assert.equal(ended, false);
      assert.deepEqual([agents[2][1].pid, agents[2][2]?.pid], [1111, 2222]);
      h.endpoint.off('agent', onAgent);
      await second.stop();
      await first.stop();
    });

    it('an agent redialling over its own dead connection is not a takeover', async () => {
      const replaced: (AgentInfo | undefined)[] = [];
      const onAgent = (id: string, _holder: AgentInfo, r: AgentInfo | undefined) => {
        if (id === 'sess-s') replaced.push(r);
      };
      h.endpoint.on('agent', onAgent);
      const self = { pid: 3333, host: 'gpu-node-3' };
      const first = agentFor(h, remote, 'sess-s', undefined, transport, h.tunnelUrl, self);
      first.start();
      await h.waitUp('sess-s');
      const again = agentFor(
        h,
        remote,
        'sess-s',
        h.secrets.get('sess-s'),
        transport,
        h.tunnelUrl,
        self
      );
      again.start();
      while (replaced.length < 2) await new Promise(r => setTimeout(r, 20));
      assert.deepEqual(replaced, [undefined, undefined]);
      h.endpoint.off('agent', onAgent);
      await again.stop();
      await first.stop();
    });

    it('reconnects after the connection is cut, and serves again', async () => {
      const agent = newAgent('sess-d');
      agent.start();
      await h.waitUp('sess-d');
      const down = new Promise<void>(resolve =>
        h.endpoint.on('down', id => id === 'sess-d' && resolve())
      );
      assert.equal(h.cut('sess-d'), 1);
      await down;
      await h.waitUp('sess-d');
      assert.equal((await request(h.sessionUrl('sess-d', 'echo'))).status, 200);
      assert.equal((await request(h.sessionUrl('sess-a', 'echo'))).status, 200);
      await agent.stop();
    });

    it('revokes a session: its tunnel closes, the agent stops, the secret is refused', async () => {
      const agent = newAgent('sess-v');
      agent.start();
      await h.waitUp('sess-v');
      const ended = waitEnded(agent);
      h.endpoint.revoke('sess-v');
      assert.equal(await ended, 'session-ended');
      assert.equal(h.endpoint.isUp('sess-v'), false);
      assert.equal(
        await handshakeStatus(
          h,
          { 'X-Interlink-Session': 'sess-v', Authorization: `Bearer ${h.secrets.get('sess-v')}` },
          transport
        ),
        403
      );
      assert.equal((await request(h.sessionUrl('sess-v', 'echo'))).status, 502);
      await agent.stop();
    });

    it('exposes tunnel metrics and never logs a secret', async () => {
      const text = await h.registry.metrics();
      assert.match(text, /interlink_tunnels_up \d/);
      assert.match(text, /interlink_tunnel_bytes_total\{direction="from_agent"\} \d+/);
      assert.match(text, /interlink_tunnel_reconnects_total [1-9]/);
      assert.match(text, /interlink_tunnel_upgrades_refused_total\{reason="bad_secret"\} [1-9]/);
      const logs = h.logs.join('');
      for (const secret of h.secrets.values())
        assert.ok(!logs.includes(secret), 'a secret was logged');
    });
  });
}

describe(
  'agent behind a middlebox that passes only WebSocket upgrades',
  { timeout: 30_000 },
  () => {
    it('falls back to a WebSocket, and keeps to it when it reconnects', async () => {
      const h = await startHarness();
      const remote = await startRemote();
      // http-proxy, as in configurable-http-proxy: it drops any upgrade but "websocket".
      const upgrades: string[] = [];
      const proxy = createProxyServer({ target: `http://127.0.0.1:${h.port}`, ws: true });
      proxy.on('error', () => {});
      const front = http.createServer((_req, res) => res.writeHead(404).end());
      front.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
        upgrades.push(String(req.headers.upgrade));
        void proxy.ws(req, socket, head);
      });
      await new Promise<void>(resolve => front.listen(0, '127.0.0.1', resolve));
      const url = `ws://127.0.0.1:${(front.address() as AddressInfo).port}${h.base}/tunnel`;
      const lines: string[] = [];
      const agent = agentFor(h, remote, 'sess-m', undefined, 'auto', url);
      agent.on('connected', () => lines.push('connected'));
      agent.start();
      await h.waitUp('sess-m');
      assert.deepEqual(upgrades, [TUNNEL_UPGRADE, 'websocket']);
      assert.equal((await request(h.sessionUrl('sess-m', 'echo'))).status, 200);
      assert.equal(
        await metricValue(h, 'interlink_tunnel_connections_total', { transport: 'raw' }),
        0
      );

      const down = new Promise<void>(resolve =>
        h.endpoint.on('down', id => id === 'sess-m' && resolve())
      );
      h.cut('sess-m');
      await down;
      await h.waitUp('sess-m');
      assert.deepEqual(upgrades, [TUNNEL_UPGRADE, 'websocket', 'websocket']);
      assert.equal((await request(h.sessionUrl('sess-m', 'echo'))).status, 200);

      await agent.stop();
      front.closeAllConnections();
      await new Promise<void>(resolve => front.close(() => resolve()));
      await h.close();
      await remote.close();
    });

    it('falls back when the proxy answers the upgrade with an error, as an older proxy does', async () => {
      const h = await startHarness();
      const remote = await startRemote();
      // An older proxy: the tunnel endpoint speaks WebSocket only and refuses other upgrades.
      const wss = new WebSocketServer({ noServer: true });
      const front = http.createServer((_req, res) => res.writeHead(404).end());
      front.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
        if (req.headers.upgrade !== 'websocket') {
          socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
          return;
        }
        const upstream = net.connect(h.port, '127.0.0.1', () => {
          upstream.write(
            `GET ${req.url} HTTP/1.1\r\n` +
              Object.entries(req.headers)
                .map(([k, v]) => `${k}: ${String(v)}\r\n`)
                .join('') +
              '\r\n'
          );
          upstream.write(head);
          upstream.pipe(socket).pipe(upstream);
        });
        upstream.on('error', () => socket.destroy());
        socket.on('error', () => upstream.destroy());
      });
      await new Promise<void>(resolve => front.listen(0, '127.0.0.1', resolve));
      const url = `ws://127.0.0.1:${(front.address() as AddressInfo).port}${h.base}/tunnel`;
      const agent = agentFor(h, remote, 'sess-o', undefined, 'auto', url);
      agent.start();
      await h.waitUp('sess-o');
      assert.equal((await request(h.sessionUrl('sess-o', 'echo'))).status, 200);
      assert.equal(
        await metricValue(h, 'interlink_tunnel_connections_total', { transport: 'websocket' }),
        1
      );
      await agent.stop();
      wss.close();
      front.closeAllConnections();
      await new Promise<void>(resolve => front.close(() => resolve()));
      await h.close();
      await remote.close();
    });
  }
);

describe('agent as a forwarder', { timeout: 30_000 }, () => {
  it('refuses plain CONNECT and paths outside its base URL (no open relay)', async () => {
    // A stand-in proxy that speaks to the agent directly, as a compromised proxy could.
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>(resolve => wss.once('listening', () => resolve()));
    const remote = await startRemote();
    const agent = new TunnelAgent({
      url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/tunnel`,
      sessionId: 'sess-x',
      secret: 'x',
      target: {
        host: '127.0.0.1',
        port: remote.port,
        basePath: '/interlink/sessions/sess-x/',
        token: REMOTE_TOKEN
      },
      env: {}
    });
    const client = new Promise<http2.ClientHttp2Session>(resolve =>
      wss.once('connection', ws => {
        const session = http2.connect('http://agent', {
          createConnection: () => webSocketDuplex(ws)
        });
        session.once('remoteSettings', () => resolve(session));
      })
    );
    agent.start();
    const session = await client;
    const statusOf = (headers: http2.OutgoingHttpHeaders): Promise<number> =>
      new Promise(resolve => {
        const stream = session.request(headers, { endStream: headers[':method'] !== 'CONNECT' });
        stream.on('response', h => resolve(Number(h[':status'])));
        stream.on('error', () => resolve(-1));
        stream.resume();
      });
    assert.equal(await statusOf({ ':method': 'CONNECT', ':authority': '127.0.0.1:22' }), 405);
    assert.equal(await statusOf({ ':method': 'GET', ':path': '/other/api/status' }), 404);
    assert.equal(
      await statusOf({ ':method': 'GET', ':path': '/interlink/sessions/sess-x/../other/' }),
      404
    );
    assert.equal(
      await statusOf({ ':method': 'GET', ':path': '/interlink/sessions/sess-x/%2e%2e/y' }),
      404
    );
    assert.equal(
      await statusOf({ ':method': 'GET', ':path': '/interlink/sessions/sess-x/echo' }),
      200
    );
    session.close();
    await agent.stop();
    await remote.close();
    await new Promise<void>(resolve => wss.close(() => resolve()));
  });
});
