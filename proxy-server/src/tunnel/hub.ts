import { EventEmitter } from 'node:events';
import http2 from 'node:http2';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { isSessionId } from '@jupyterlab-interlink/contract';
import {
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
  goawayData,
  HANDSHAKE_TIMEOUT_MS
} from './protocol.js';
import {
  forwardRequestHeaders,
  forwardResponseHeaders,
  responseHead,
  stripTokenParam
} from './headers.js';
import { webSocketDuplex } from './ws-duplex.js';
import { closeAfterFlush, relay } from './sockets.js';
import { BoundedSet } from '../bounded-set.js';
import { logLimit } from '../log-limit.js';

export interface TunnelHubOptions {
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

const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR } = http2.constants;
/** Sessions remembered as ended or seen; past that the oldest are forgotten (the secret check still refuses them). */
const REMEMBERED_SESSIONS = 10_000;

interface Metrics {
  tunnelsUp: Gauge;
  streamsOpen: Gauge<'kind'>;
  bytes: Counter<'direction'>;
  refused: Counter<'reason'>;
  reconnects: Counter;
  connections: Counter<'transport'>;
}

/** How an agent is connected: HTTP/2 directly on its socket, or over a WebSocket on it. */
type Link = { kind: 'raw' } | { kind: 'websocket'; ws: WebSocket };

class Tunnel {
  readonly session: http2.ClientHttp2Session;
  ready = false;
  closed = false;
  alive = true;
  private countedRead = 0;
  private countedWritten = 0;

  constructor(
    readonly sessionId: string,
    readonly link: Link,
    /** The agent's TCP (or TLS) connection. */
    readonly socket: Socket,
    settings: { maxHeaderBytes: number }
  ) {
    const transport = link.kind === 'raw' ? socket : webSocketDuplex(link.ws);
    this.session = http2.connect('http://interlink-agent', {
      createConnection: () => transport,
      settings: {
        enablePush: false,
        initialWindowSize: STREAM_WINDOW_BYTES,
        maxHeaderListSize: settings.maxHeaderBytes
      },
      maxSessionMemory: MAX_SESSION_MEMORY_MB,
      maxHeaderListPairs: 256
    });
    if (link.kind === 'websocket') {
      link.ws.on('pong', () => (this.alive = true));
      link.ws.on('message', () => (this.alive = true));
    }
  }

  /** Bytes on the agent's TCP connection since the last call (counted at scrape and at close). */
  takeBytes(): { read: number; written: number } {
    const read = this.socket.bytesRead - this.countedRead;
    const written = this.socket.bytesWritten - this.countedWritten;
    this.countedRead += read;
    this.countedWritten += written;
    return { read, written };
  }

  ping(): void {
    this.alive = false;
    if (this.link.kind === 'websocket') {
      this.link.ws.ping();
      return;
    }
    try {
      this.session.ping(err => {
        if (!err) this.alive = true;
      });
    } catch {
      // The session is closing; the next round terminates it.
    }
  }

  /** Cut the connection without a word, as for a dead peer. */
  terminate(): void {
    if (this.link.kind === 'websocket') this.link.ws.terminate();
    else this.socket.destroy();
  }

  /** Tell the agent why (a close code from protocol.ts) and close. */
  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.ready = false;
    if (this.link.kind === 'raw') {
      try {
        if (!this.session.destroyed)
          this.session.goaway(NGHTTP2_NO_ERROR, 0, goawayData(code, reason));
      } catch {
        // Nothing can be sent any more; destroying is all that is left.
      }
      // Sends what is queued (the GOAWAY), then ends the socket.
      this.session.destroy();
    } else {
      if (!this.session.destroyed) this.session.destroy();
      const ws = this.link.ws;
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(code, reason);
    }
    // A peer that never finishes closing is cut off.
    setTimeout(() => this.terminate(), 5_000).unref();
  }
}

/**
 * Accepts agents' tunnels and proxies browser HTTP requests and WebSockets through them.
 *
 * One live tunnel per session. A second authenticated connection for the same session replaces the
 * first one (which is closed with code 4001): an agent whose TCP connection died silently
 * reconnects at once instead of being locked out until a ping times out; the agent that receives
 * 4001 stops, so two agents holding the same secret cannot take turns.
 */
export class TunnelHub extends EventEmitter<{
  up: [sessionId: string];
  down: [sessionId: string];
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
  private readonly metrics: Metrics;
  private readonly log: Logger;
  private readonly pingTimer: NodeJS.Timeout;
  private readonly maxHeaderBytes: number;
  private closing = false;

  constructor(private readonly options: TunnelHubOptions) {
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
    this.metrics = this.createMetrics(options.registry);
    this.pingTimer = setInterval(
      () => this.pingAll(),
      options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS
    );
    this.pingTimer.unref();
  }

  private createMetrics(registry?: Registry): Metrics {
    const registers = registry ? [registry] : [];
    const tunnels = () => this.tunnels.values();
    return {
      tunnelsUp: new Gauge({
        name: 'interlink_tunnels_up',
        help: 'Agent tunnels connected and ready',
        registers,
        collect() {
          let n = 0;
          for (const t of tunnels()) if (t.ready) n++;
          this.set(n);
        }
      }),
      streamsOpen: new Gauge({
        name: 'interlink_tunnel_streams_open',
        help: 'Proxied streams open through tunnels',
        labelNames: ['kind'],
        registers
      }),
      bytes: new Counter({
        name: 'interlink_tunnel_bytes_total',
        help: 'Bytes on agent tunnel connections, by direction',
        labelNames: ['direction'],
        registers,
        collect() {
          for (const t of tunnels()) {
            const { read, written } = t.takeBytes();
            this.inc({ direction: 'from_agent' }, read);
            this.inc({ direction: 'to_agent' }, written);
          }
        }
      }),
      refused: new Counter({
        name: 'interlink_tunnel_upgrades_refused_total',
        help: 'Agent tunnel connections refused, by reason',
        labelNames: ['reason'],
        registers
      }),
      reconnects: new Counter({
        name: 'interlink_tunnel_reconnects_total',
        help: 'Agent tunnel connections for a session that had connected before',
        registers
      }),
      connections: new Counter({
        name: 'interlink_tunnel_connections_total',
        help: 'Agent tunnel connections accepted, by transport (raw: HTTP/2 on the connection; websocket: the fallback through middleboxes)',
        labelNames: ['transport'],
        registers
      })
    };
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

  private attach(sessionId: string, link: Link, req: IncomingMessage): void {
    const socket = req.socket;
    socket.setNoDelay(true);
    const tunnel = new Tunnel(sessionId, link, socket, { maxHeaderBytes: this.maxHeaderBytes });
    // The session may have been revoked while the handshake was in flight.
    if (this.revoked.has(sessionId) || this.closing) {
      tunnel.close(CLOSE_SESSION_ENDED, 'session ended');
      return;
    }
    const previous = this.tunnels.get(sessionId);
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

    const session = tunnel.session;
    session.on('error', err => {
      this.log.warn({ sessionId, err: err.message }, 'tunnel protocol error');
      this.drop(tunnel, CLOSE_PROTOCOL_ERROR, 'protocol error');
    });
    session.on('close', () => this.drop(tunnel, 1000, 'closed'));
    session.on('goaway', () => this.drop(tunnel, 1000, 'agent going away'));
    session.once('connect', () => {
      try {
        session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
      } catch {
        // The session died during the handshake; 'close' handles it.
      }
    });
    session.once('remoteSettings', settings => {
      clearTimeout(handshake);
      if (tunnel.closed) return;
      if (!settings.enableConnectProtocol) {
        this.log.warn({ sessionId }, 'agent does not accept WebSocket streams');
      }
      tunnel.ready = true;
      this.log.info({ sessionId }, 'tunnel up');
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

  private pingAll(): void {
    for (const tunnel of this.tunnels.values()) {
      if (!tunnel.alive) {
        this.log.warn({ sessionId: tunnel.sessionId }, 'tunnel missed a ping; dropping it');
        tunnel.terminate();
        continue;
      }
      tunnel.ping();
    }
  }

  isUp(sessionId: string): boolean {
    return this.routable(sessionId) !== undefined;
  }

  private routable(sessionId: string): Tunnel | undefined {
    const tunnel = this.tunnels.get(sessionId);
    if (!tunnel || !tunnel.ready || tunnel.closed || tunnel.session.destroyed) return undefined;
    return tunnel;
  }

  proxyRequest(sessionId: string, req: IncomingMessage, res: ServerResponse): void {
    const tunnel = this.routable(sessionId);
    if (!tunnel) {
      sendJson(res, 502, tunnelDownBody());
      req.resume();
      return;
    }
    const method = req.method ?? 'GET';
    const headers: http2.OutgoingHttpHeaders = {
      ...forwardRequestHeaders(req.headers),
      ':method': method,
      ':path': stripTokenParam(req.url ?? '/'),
      ':scheme': 'http',
      ':authority': 'jupyter'
    };
    const hasBody =
      (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') ||
      req.headers['transfer-encoding'] !== undefined;
    let stream: http2.ClientHttp2Stream;
    try {
      stream = tunnel.session.request(headers, { endStream: !hasBody });
    } catch (err) {
      this.log.warn({ sessionId, err: (err as Error).message }, 'could not open a tunnel stream');
      sendJson(res, 502, tunnelDownBody());
      req.resume();
      return;
    }
    this.trackStream(stream, 'http');

    stream.on('response', h => {
      const status = Number(h[':status']);
      try {
        res.writeHead(status, forwardResponseHeaders(h));
      } catch (err) {
        this.log.warn({ sessionId, err: (err as Error).message }, 'bad response head from agent');
        stream.close(NGHTTP2_CANCEL);
        sendJson(res, 502, {
          error: 'bad_gateway',
          message: 'The remote server sent an invalid response.'
        });
        return;
      }
      if (method === 'HEAD' || status === 204 || status === 304) {
        stream.resume();
        stream.once('end', () => res.end());
      } else {
        relay(stream, res);
      }
    });
    // However the stream ends: no answer yet means 502; a body cut short cuts the browser's
    // connection too, so a truncated download cannot pass as complete.
    const settle = (): void => {
      if (res.destroyed) return;
      if (!res.headersSent) {
        sendJson(res, 502, {
          error: 'bad_gateway',
          message: 'The remote Jupyter server did not answer through the tunnel.'
        });
      } else if (!res.writableEnded) {
        res.destroy();
      }
    };
    stream.on('error', () => {});
    stream.on('close', settle);
    res.on('close', () => {
      if (!stream.closed) stream.close(NGHTTP2_CANCEL);
    });
    req.on('error', () => {
      if (!stream.closed) stream.close(NGHTTP2_CANCEL);
    });
    if (hasBody) relay(req, stream);
    else req.resume();
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
    if ((headerValue(req, 'upgrade') ?? '').toLowerCase() !== 'websocket') {
      writeError(socket, 400, 'bad_request', 'Only WebSocket upgrades are proxied.');
      return;
    }
    if (!tunnel.session.remoteSettings.enableConnectProtocol) {
      writeError(socket, 502, 'bad_gateway', 'The remote agent does not accept WebSocket streams.');
      return;
    }
    // RFC 8441 extended CONNECT: the standard mapping of one WebSocket onto one HTTP/2 stream. It
    // keeps :path, so the agent checks the target exactly as it checks plain requests (a bare
    // CONNECT names only host:port), and the agent makes an ordinary HTTP/1.1 upgrade to its server
    // with its own token rather than rewriting raw bytes. Sec-WebSocket-Key travels as a regular
    // header so the remote server's Sec-WebSocket-Accept is valid for the browser as it stands.
    const headers: http2.OutgoingHttpHeaders = {
      ...forwardRequestHeaders(req.headers, { dropOrigin: true, keepWebSocket: true }),
      ':method': 'CONNECT',
      ':protocol': 'websocket',
      ':path': stripTokenParam(req.url ?? '/'),
      ':scheme': 'http',
      ':authority': 'jupyter'
    };
    let stream: http2.ClientHttp2Stream;
    try {
      stream = tunnel.session.request(headers, { endStream: false });
    } catch (err) {
      this.log.warn({ sessionId, err: (err as Error).message }, 'could not open a tunnel stream');
      const body = tunnelDownBody();
      writeError(socket, 502, body.error, body.message);
      return;
    }
    this.trackStream(stream, 'websocket');

    stream.on('response', h => {
      const status = Number(h[':status']);
      const forwarded = forwardResponseHeaders(h);
      if (status === 200) {
        socket.write(
          responseHead(101, 'Switching Protocols', {
            Upgrade: 'websocket',
            Connection: 'Upgrade',
            ...forwarded
          })
        );
        if (head.length > 0) stream.write(head);
        relay(socket, stream);
        relay(stream, socket);
      } else {
        delete forwarded['content-length'];
        socket.write(
          responseHead(status, STATUS_CODES[status] ?? 'Error', {
            ...forwarded,
            Connection: 'close'
          })
        );
        relay(stream, socket);
      }
    });
    stream.on('error', () => {});
    // Once the stream is gone nothing more can come from the other side; flush and close.
    stream.on('close', () => closeAfterFlush(socket));
    socket.on('close', () => {
      if (!stream.closed) stream.close(NGHTTP2_CANCEL);
    });
  }

  private trackStream(stream: http2.ClientHttp2Stream, kind: 'http' | 'websocket'): void {
    const gauge = this.metrics.streamsOpen;
    gauge.inc({ kind });
    stream.once('close', () => gauge.dec({ kind }));
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
    clearInterval(this.pingTimer);
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

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function tunnelDownBody(): { error: string; message: string } {
  return {
    error: 'tunnel_down',
    message:
      'The remote Jupyter server is not connected right now (its tunnel is down). ' +
      'If the session is still starting or the connection dropped, try again in a few seconds.'
  };
}

function sendJson(res: ServerResponse, status: number, body: object): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store'
  });
  res.end(text);
}

/** An HTTP error on a socket that has not been upgraded. */
function writeError(
  socket: Duplex,
  status: number,
  error: string,
  message: string,
  extra: Record<string, string> = {}
): void {
  if (socket.destroyed) return;
  const body = JSON.stringify({ error, message });
  socket.once('finish', () => socket.destroy());
  socket.end(
    responseHead(status, STATUS_CODES[status] ?? 'Error', {
      Connection: 'close',
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': String(Buffer.byteLength(body)),
      ...extra
    }) + body
  );
}
