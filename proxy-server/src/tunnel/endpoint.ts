import { EventEmitter } from 'node:events';
import http2 from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { isSessionId, type AgentInfo } from '@jupyterlab-interlink/contract';
import {
  AGENT_HEADER,
  CLOSE_PROTOCOL_ERROR,
  CLOSE_REPLACED,
  CLOSE_SESSION_ENDED,
  CONNECTION_WINDOW_BYTES,
  DEFAULT_MAX_HEADER_BYTES,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_PING_INTERVAL_MS,
  MAX_SESSION_MEMORY_MB,
  SESSION_HEADER,
  STREAM_WINDOW_BYTES,
  TUNNEL_UPGRADE,
  parseAgentHeader,
  HANDSHAKE_TIMEOUT_MS
} from './protocol.js';
import { responseHead } from './headers.js';
import { webSocketDuplex } from './ws-duplex.js';
import { sendJson } from '../json-reply.js';
import {
  forwardRequest,
  forwardUpgrade,
  headerValue,
  tunnelDownBody,
  writeError,
  type Forwarding
} from './forward.js';
import { createTunnelMetrics, type TunnelMetrics } from './metrics.js';
import { rawLink, webSocketLink, type TunnelLink } from './link.js';
import { BoundedSet } from '../bounded-set.js';
import { logLimit } from '../log-limit.js';

export interface TunnelEndpointOptions {
  /** true if `secret` is the live secret of `sessionId` (the caller compares sha256 hashes in constant time). */
  authorize(sessionId: string, secret: string): boolean;
  logger: Logger;
  /** prom-client registry to register tunnel metrics on (tunnels up, streams open, bytes each way, upgrades refused, reconnects). */
  registry?: Registry;
  /** Largest WebSocket message accepted from an agent (default 1 MiB; agents send at most 256 KiB). */
  maxMessageBytes?: number;
  /** Largest header list accepted in a response from an agent (default 64 KiB). */
  maxHeaderBytes?: number;
  /** How often agents are pinged; one missed pong and the tunnel is dropped (default 15 s). */
  pingIntervalMs?: number;
}

/** Sessions remembered as ended or seen; past that the oldest are forgotten (the secret check still refuses them). */
const REMEMBERED_SESSIONS = 10_000;

/** How an agent is connected: HTTP/2 directly on its socket, or over a WebSocket on it. */
type Transport = { kind: 'raw' } | { kind: 'websocket'; ws: WebSocket };

/** The same agent process dialling again (its old connection died unnoticed), not another one. */
function sameAgent(a: AgentInfo, b: AgentInfo): boolean {
  return a.pid !== undefined && a.pid === b.pid && a.host === b.host;
}

/** A peer that does not finish closing within this is cut off. */
const CLOSE_GRACE_MS = 5_000;

/** One agent's connection: the HTTP/2 client the proxy drives over its link. */
class Tunnel {
  /** The HTTP/2 client the proxy drives over the link (the agent is the HTTP/2 server). */
  readonly client: http2.ClientHttp2Session;
  readonly link: TunnelLink;
  ready = false;
  closed = false;
  /** Who dialled: what the agent says of itself, and from where. */
  holder!: AgentInfo;
  /** The agent whose live tunnel this one replaced, if any. */
  replaced?: AgentInfo;
  private countedRead = 0;
  private countedWritten = 0;

  constructor(
    readonly sessionId: string,
    transport: Transport,
    /** The agent's TCP (or TLS) connection. */
    readonly socket: Socket,
    settings: { maxHeaderBytes: number; pingIntervalMs: number; onDead: () => void }
  ) {
    const stream = transport.kind === 'raw' ? socket : webSocketDuplex(transport.ws);
    this.client = http2.connect('http://interlink-agent', {
      createConnection: () => stream,
      settings: {
        enablePush: false,
        initialWindowSize: STREAM_WINDOW_BYTES,
        maxHeaderListSize: settings.maxHeaderBytes
      },
      maxSessionMemory: MAX_SESSION_MEMORY_MB,
      maxHeaderListPairs: 256
    });
    const options = {
      pingIntervalMs: settings.pingIntervalMs,
      closeGraceMs: CLOSE_GRACE_MS,
      onDead: settings.onDead
    };
    this.link =
      transport.kind === 'raw'
        ? rawLink(socket, this.client, options)
        : webSocketLink(transport.ws, options, this.client);
  }

  /** Bytes on the agent's TCP connection since the last call (counted at scrape and at close). */
  takeBytes(): { read: number; written: number } {
    const read = this.socket.bytesRead - this.countedRead;
    const written = this.socket.bytesWritten - this.countedWritten;
    this.countedRead += read;
    this.countedWritten += written;
    return { read, written };
  }

  /** Cut the connection without a word, as for a dead peer. */
  terminate(): void {
    this.link.terminate();
  }

  /** Tell the agent why (a close code from protocol.ts) and close. */
  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.ready = false;
    void this.link.close(code, reason);
  }
}

/**
 * Accepts agents' tunnels and proxies browser HTTP requests and WebSockets through them.
 *
 * One live tunnel per session. A second authenticated connection for the same session replaces the
 * first one (which is closed with code 4001): an agent whose TCP connection died silently
 * reconnects at once instead of being locked out until a ping times out. When the newcomer is
 * another agent (another process or host), that is a takeover by whoever else holds the secret:
 * `agent` says so, the session's owner sees it, and the displaced agent keeps redialling.
 */
export class TunnelEndpoint extends EventEmitter<{
  up: [sessionId: string];
  down: [sessionId: string];
  /** A tunnel is up; `replaced` is the agent it took over from, when that was another agent. */
  agent: [sessionId: string, holder: AgentInfo, replaced: AgentInfo | undefined];
}> {
  private readonly tunnels = new Map<string, Tunnel>();
  /** Sessions whose `up` was announced and whose `down` was not, across replacements. */
  private readonly announced = new Set<string>();
  /** Sessions that had a tunnel before, to count reconnects. */
  private readonly seen = new BoundedSet<string>(REMEMBERED_SESSIONS);
  private readonly revoked = new BoundedSet<string>(REMEMBERED_SESSIONS);
  /** Anyone can dial the tunnel: refusals are logged at most 10 a minute. */
  private readonly refusalLog = logLimit(10, 60_000);
  private readonly wss: WebSocketServer;
  private readonly metrics: TunnelMetrics;
  private readonly log: Logger;
  private readonly maxHeaderBytes: number;
  private readonly pingIntervalMs: number;
  private closing = false;

  constructor(private readonly options: TunnelEndpointOptions) {
    super();
    this.log = options.logger.child({ component: 'tunnel' });
    this.maxHeaderBytes = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
    this.wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      clientTracking: false
    });
    this.wss.on('error', err => this.log.warn({ err }, 'tunnel endpoint error'));
    this.metrics = createTunnelMetrics(options.registry, () => this.tunnels.values());
    this.pingIntervalMs = options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS;
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => {});
    const remote = req.socket.remoteAddress;
    const refuse = (status: number, reason: string, message: string, sessionId?: string): void => {
      this.metrics.refused.inc({ reason });
      this.refusalLog(suppressed =>
        this.log.warn({ sessionId, remote, reason, suppressed }, 'tunnel connection refused')
      );
      writeError(
        socket,
        status,
        reason,
        message,
        status === 401 ? { 'WWW-Authenticate': 'Bearer' } : {}
      );
    };
    if (this.closing) {
      refuse(503, 'shutting_down', 'The proxy server is shutting down.');
      return;
    }
    const sessionId = headerValue(req, SESSION_HEADER);
    const match = /^Bearer +([^\s]+) *$/i.exec(headerValue(req, 'authorization') ?? '');
    if (!sessionId || !match) {
      refuse(
        401,
        'missing_credentials',
        `Send "Authorization: Bearer <secret>" and "${SESSION_HEADER}".`
      );
      return;
    }
    // ids come from our own API; anything else is refused before it reaches a log line
    if (!isSessionId(sessionId)) {
      refuse(403, 'unknown_session', 'Unknown session.');
      return;
    }
    if (this.revoked.has(sessionId)) {
      refuse(403, 'session_ended', 'This session has ended.', sessionId);
      return;
    }
    let ok = false;
    try {
      ok = this.options.authorize(sessionId, match[1]);
    } catch (err) {
      this.log.error({ err, sessionId }, 'tunnel authorization failed');
    }
    if (!ok) {
      refuse(403, 'bad_secret', 'The secret is not valid for this session.', sessionId);
      return;
    }
    if ((headerValue(req, 'upgrade') ?? '').toLowerCase() === TUNNEL_UPGRADE) {
      // HTTP/2 directly on the connection. Bytes the agent sent after its request are handed
      // back to the socket, where node:http2 looks for them before reading natively.
      if (head.length > 0) socket.unshift(head);
      // HTTP/2 takes the socket over only once the 101 is written: over TLS, node would route
      // that write's completion to the HTTP/2 session, which aborts on a write it did not make.
      socket.write(
        responseHead(101, 'Switching Protocols', {
          Connection: 'Upgrade',
          Upgrade: TUNNEL_UPGRADE
        }),
        err => {
          if (!err && !socket.destroyed) this.attach(sessionId, { kind: 'raw' }, req);
        }
      );
      return;
    }
    this.wss.handleUpgrade(req, socket, head, ws =>
      this.attach(sessionId, { kind: 'websocket', ws }, req)
    );
  }

  private attach(sessionId: string, link: Transport, req: IncomingMessage): void {
    const socket = req.socket;
    socket.setNoDelay(true);
    const tunnel = new Tunnel(sessionId, link, socket, {
      maxHeaderBytes: this.maxHeaderBytes,
      pingIntervalMs: this.pingIntervalMs,
      onDead: () => this.log.warn({ sessionId }, 'tunnel missed a ping; dropping it')
    });
    // The session may have been revoked while the handshake was in flight.
    if (this.revoked.has(sessionId) || this.closing) {
      tunnel.close(CLOSE_SESSION_ENDED, 'session ended');
      return;
    }
    const said = parseAgentHeader(headerValue(req, AGENT_HEADER));
    tunnel.holder = {
      ...said,
      address: socket.remoteAddress,
      connectedAt: new Date().toISOString()
    };
    const previous = this.tunnels.get(sessionId);
    if (previous && !sameAgent(previous.holder, tunnel.holder)) tunnel.replaced = previous.holder;
    if (previous) {
      this.log.info({ sessionId }, 'tunnel replaced by a newer connection');
      previous.close(CLOSE_REPLACED, 'replaced by a newer connection');
      this.finish(previous);
    }
    this.metrics.connections.inc({ transport: link.kind });
    if (this.seen.has(sessionId)) this.metrics.reconnects.inc();
    this.seen.add(sessionId);
    this.tunnels.set(sessionId, tunnel);
    this.log.info(
      { sessionId, remote: socket.remoteAddress, transport: link.kind },
      'tunnel connecting'
    );

    const handshake = setTimeout(() => {
      this.log.warn({ sessionId }, 'tunnel handshake timed out');
      this.drop(tunnel, CLOSE_PROTOCOL_ERROR, 'handshake timeout');
    }, HANDSHAKE_TIMEOUT_MS);
    handshake.unref();

    socket.once('close', () => {
      clearTimeout(handshake);
      if (!tunnel.closed) this.log.info({ sessionId }, 'tunnel closed');
      tunnel.close(1000, '');
      this.finish(tunnel);
    });
    if (link.kind === 'websocket') {
      link.ws.on('error', err => {
        this.log.warn({ sessionId, err: err.message }, 'tunnel WebSocket error');
      });
    }

    const client = tunnel.client;
    client.on('error', err => {
      this.log.warn({ sessionId, err: err.message }, 'tunnel protocol error');
      this.drop(tunnel, CLOSE_PROTOCOL_ERROR, 'protocol error');
    });
    client.on('close', () => this.drop(tunnel, 1000, 'closed'));
    client.on('goaway', () => this.drop(tunnel, 1000, 'agent going away'));
    client.once('connect', () => {
      try {
        client.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
      } catch {
        // The HTTP/2 client died during the handshake; 'close' handles it.
      }
    });
    client.once('remoteSettings', settings => {
      clearTimeout(handshake);
      if (tunnel.closed) return;
      if (!settings.enableConnectProtocol) {
        this.log.warn({ sessionId }, 'agent does not accept WebSocket streams');
      }
      tunnel.ready = true;
      this.log.info({ sessionId }, 'tunnel up');
      if (tunnel.replaced) {
        this.log.warn(
          { sessionId, previous: tunnel.replaced, current: tunnel.holder },
          'tunnel taken over by another agent holding the session secret'
        );
      }
      this.emit('agent', sessionId, tunnel.holder, tunnel.replaced);
      if (!this.announced.has(sessionId)) {
        this.announced.add(sessionId);
        this.emit('up', sessionId);
      }
    });
  }

  private drop(tunnel: Tunnel, code: number, reason: string): void {
    tunnel.close(code, reason);
    this.finish(tunnel);
  }

  /** Forget a closed tunnel; announce `down` unless a newer connection already took its place. */
  private finish(tunnel: Tunnel): void {
    const { bytes } = this.metrics;
    const { read, written } = tunnel.takeBytes();
    bytes.inc({ direction: 'from_agent' }, read);
    bytes.inc({ direction: 'to_agent' }, written);
    if (this.tunnels.get(tunnel.sessionId) !== tunnel) return;
    this.tunnels.delete(tunnel.sessionId);
    if (this.announced.delete(tunnel.sessionId)) this.emit('down', tunnel.sessionId);
  }

  isUp(sessionId: string): boolean {
    return this.routable(sessionId) !== undefined;
  }

  private routable(sessionId: string): Tunnel | undefined {
    const tunnel = this.tunnels.get(sessionId);
    if (!tunnel || !tunnel.ready || tunnel.closed || tunnel.client.destroyed) return undefined;
    return tunnel;
  }

  /** `path`: where in the tunnel it goes, when not the browser's own path. */
  proxyRequest(sessionId: string, req: IncomingMessage, res: ServerResponse, path?: string): void {
    const tunnel = this.routable(sessionId);
    if (!tunnel) {
      sendJson(res, 502, tunnelDownBody());
      req.resume();
      return;
    }
    forwardRequest(tunnel.client, sessionId, req, res, this.forwarding, path);
  }

  /**
   * The proxy's own GET to the session's remote server (the agent adds the server's token):
   * JSON, or an error when the tunnel is down, the answer is not 200 or takes over `timeoutMs`.
   */
  getJson(sessionId: string, path: string, timeoutMs = 10_000): Promise<unknown> {
    const tunnel = this.routable(sessionId);
    if (!tunnel) return Promise.reject(new Error('tunnel down'));
    return new Promise((resolve, reject) => {
      const stream = tunnel.client.request({
        ':method': 'GET',
        ':path': path,
        ':scheme': 'http',
        ':authority': 'jupyter',
        accept: 'application/json'
      });
      stream.setTimeout(timeoutMs, () => stream.close(http2.constants.NGHTTP2_CANCEL));
      let status = 0;
      const chunks: Buffer[] = [];
      stream.on('response', h => (status = Number(h[':status'])));
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('error', reject);
      stream.on('close', () => {
        if (status !== 200) return reject(new Error(`${path}: HTTP ${status || 'no answer'}`));
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch (err) {
          reject(err);
        }
      });
    });
  }

  proxyUpgrade(sessionId: string, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => {});
    if ('setNoDelay' in socket && typeof socket.setNoDelay === 'function') socket.setNoDelay(true);
    const tunnel = this.routable(sessionId);
    if (!tunnel) {
      const body = tunnelDownBody();
      writeError(socket, 502, body.error, body.message);
      return;
    }
    forwardUpgrade(tunnel.client, sessionId, req, socket, head, this.forwarding);
  }

  private get forwarding(): Forwarding {
    return { log: this.log, streamsOpen: this.metrics.streamsOpen };
  }

  revoke(sessionId: string): void {
    this.revoked.add(sessionId);
    this.seen.delete(sessionId);
    const tunnel = this.tunnels.get(sessionId);
    if (tunnel) {
      this.log.info({ sessionId }, 'tunnel revoked: session ended');
      this.drop(tunnel, CLOSE_SESSION_ENDED, 'session ended');
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    const closed = [...this.tunnels.values()].map(
      t =>
        new Promise<void>(resolve => {
          if (t.socket.destroyed) return resolve();
          t.socket.once('close', () => resolve());
          t.close(1001, 'proxy shutting down');
          setTimeout(() => {
            t.terminate();
            resolve();
          }, 2_000).unref();
        })
    );
    await Promise.all(closed);
    this.tunnels.clear();
    await new Promise<void>(resolve => this.wss.close(() => resolve()));
  }
}
