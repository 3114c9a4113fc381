import { EventEmitter } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import {
  CONNECTION_WINDOW_BYTES,
  CLOSE_REPLACED,
  DEFAULT_MAX_HEADER_BYTES,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_PING_INTERVAL_MS,
  HANDSHAKE_TIMEOUT_MS,
  MAX_SESSION_MEMORY_MB,
  SESSION_HEADER,
  STREAM_WINDOW_BYTES,
  TUNNEL_UPGRADE,
  isFinalCloseCode,
  parseGoawayData
} from '../tunnel/protocol.js';
import { agentRequestHeaders, forwardResponseHeaders } from '../tunnel/headers.js';
import { webSocketDuplex } from '../tunnel/ws-duplex.js';
import { closeAfterFlush, relay } from '../tunnel/sockets.js';
import { connectThroughProxy, proxyFor, type ProxyEnv } from './proxy-dial.js';
import { tunnelUrlProblem } from './tunnel-url.js';
import { portOfPath } from '@jupyterlab-interlink/contract';

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_REFUSED_STREAM } = http2.constants;

/** The one local server the agent forwards to. Nothing else is reachable through the tunnel. */
export interface ForwardTarget {
  /** Loopback address the server listens on. */
  host: string;
  port: number;
  /** The server's base_url; requests outside it are refused. Starts and ends with "/". */
  basePath: string;
  /** Sent as `Authorization: token …` on every forwarded request. */
  token?: string;
}

/** Where one stream goes: the Jupyter server, or a declared port's app (never given its token). */
interface Destination {
  host: string;
  port: number;
  token?: string;
}

export interface TunnelAgentOptions {
  /** ws:// or wss:// URL of the proxy's tunnel endpoint. */
  url: string;
  sessionId: string;
  secret: string;
  target: ForwardTarget;
  /**
   * The ports the session declared: `{basePath}ports/{port}/…` goes to 127.0.0.1:<port>, path
   * unchanged. Every other port under `ports/` is refused, so the tunnel reaches nothing else.
   */
  ports?: readonly number[];
  /** Progress lines for the job log. Never given secrets or tokens. */
  log?: (line: string) => void;
  /** Proxy variables (HTTPS_PROXY, NO_PROXY, …); defaults to process.env. */
  env?: ProxyEnv;
  initialDelayMs?: number;
  maxDelayMs?: number;
  pingIntervalMs?: number;
  /** Consecutive handshake refusals (401/403) before giving up. */
  maxRefusals?: number;
  /** Extra CA certificate(s) to trust for wss:// (the CLI relies on NODE_EXTRA_CA_CERTS). */
  ca?: string | Buffer;
  /**
   * `auto` (default): HTTP/2 directly on the connection, WebSocket if that is declined.
   * `websocket`: WebSocket only, for a middlebox that accepts the upgrade and then mangles it.
   */
  transport?: 'auto' | 'websocket';
}

export type EndReason = 'session-ended' | 'replaced' | 'refused';

/** One connection to the proxy, whichever way it was made. */
interface Link {
  readonly open: boolean;
  /** Close politely; resolves once the connection is gone. */
  close(): Promise<void>;
}

/** How a tunnel that was up ended: the proxy's close code and reason if it gave them. */
interface Ending {
  code: number;
  reason: string;
  failure: string;
}

/** How a connection attempt ended before HTTP/2 was running on it. */
interface Failure {
  message: string;
  /** The proxy's HTTP status, if it answered the upgrade with one. */
  status?: number;
  /** The proxy was reached and declined a raw HTTP/2 upgrade: a WebSocket may still pass. */
  declined?: boolean;
}

/**
 * Dials the proxy, serves the HTTP/2 streams it opens by forwarding them to the local server, and
 * redials with exponential backoff and jitter whenever the connection drops. It stops for good
 * when the proxy says the session ended (close codes 4000-4099) or keeps refusing its secret.
 *
 * Each dial asks first for HTTP/2 directly on the connection (Upgrade: interlink-h2). If the proxy
 * or something in between declines that (any answer but 101/401/403, or the connection closing
 * before HTTP/2 settings arrive), it dials again at once with a WebSocket, and keeps to WebSocket
 * from then on once that works.
 */
export class TunnelAgent extends EventEmitter<{
  connected: [];
  disconnected: [reason: string];
  ended: [reason: EndReason, detail: string];
}> {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxFreeSockets: 16 });
  private readonly log: (line: string) => void;
  private link: Link | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private attempt = 0;
  private refusals = 0;
  private websocketOnly: boolean;
  private readonly sessions = new Set<http2.ServerHttp2Session>();

  constructor(private readonly options: TunnelAgentOptions) {
    super();
    const problem = tunnelUrlProblem(new URL(options.url));
    if (problem) throw new Error(problem);
    this.log = options.log ?? (() => {});
    this.websocketOnly = options.transport === 'websocket';
    this.httpAgent.on('free', socket => socket.setNoDelay(true));
  }

  get connected(): boolean {
    return this.link?.open ?? false;
  }

  start(): void {
    this.stopped = false;
    void this.dial();
  }

  /** Close the tunnel and stop redialing. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    await this.link?.close();
    for (const session of this.sessions) session.destroy();
    this.httpAgent.destroy();
  }

  /** The connection to the proxy, through an HTTP CONNECT proxy if the environment names one. */
  private async proxySocket(target: URL): Promise<net.Socket | undefined> {
    const proxy = proxyFor(target, this.options.env);
    return proxy ? connectThroughProxy(proxy, target, { ca: this.options.ca }) : undefined;
  }

  private async dial(): Promise<void> {
    if (this.stopped) return;
    let target: URL;
    let socket: net.Socket | undefined;
    try {
      target = new URL(this.options.url);
      socket = await this.proxySocket(target);
    } catch (err) {
      this.retry(`cannot reach the proxy server: ${(err as Error).message}`);
      return;
    }
    if (this.stopped) {
      socket?.destroy();
      return;
    }
    if (this.websocketOnly) {
      this.dialWebSocket(target, socket, false);
      return;
    }
    const failure = await this.dialRaw(target, socket);
    if (!failure || this.stopped) return;
    if (!failure.declined) {
      this.failed(failure);
      return;
    }
    this.log(`the proxy declined a direct HTTP/2 tunnel (${failure.message}); trying WebSocket`);
    try {
      socket = await this.proxySocket(target);
    } catch (err) {
      this.retry(`cannot reach the proxy server: ${(err as Error).message}`);
      return;
    }
    if (this.stopped) socket?.destroy();
    else this.dialWebSocket(target, socket, true);
  }

  private credentials(): Record<string, string> {
    const { sessionId, secret } = this.options;
    return { Authorization: `Bearer ${secret}`, [SESSION_HEADER]: sessionId };
  }

  private serverSession(transport: Duplex): http2.ServerHttp2Session {
    const session = http2.performServerHandshake(transport, {
      settings: {
        enableConnectProtocol: true,
        initialWindowSize: STREAM_WINDOW_BYTES,
        maxConcurrentStreams: 1000,
        maxHeaderListSize: DEFAULT_MAX_HEADER_BYTES
      },
      maxSessionMemory: MAX_SESSION_MEMORY_MB
    });
    this.sessions.add(session);
    session.on('close', () => this.sessions.delete(session));
    session.on('error', () => {});
    session.on('stream', (stream, headers) => this.onStream(stream, headers));
    try {
      session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
    } catch {
      // Not fatal: the default window only slows bulk uploads.
    }
    return session;
  }

  /**
   * HTTP/2 directly on the upgraded connection. Resolves with undefined once the tunnel is up
   * (its end is then reported like a WebSocket's), or with why it did not come up.
   */
  private dialRaw(target: URL, socket: net.Socket | undefined): Promise<Failure | undefined> {
    const secure = target.protocol === 'wss:';
    const url = new URL(target);
    url.protocol = secure ? 'https:' : 'http:';
    const req = (secure ? https : http).request(url, {
      method: 'GET',
      headers: { Connection: 'Upgrade', Upgrade: TUNNEL_UPGRADE, ...this.credentials() },
      timeout: HANDSHAKE_TIMEOUT_MS,
      ...(this.options.ca ? { ca: this.options.ca } : {}),
      // With an `agent` set, node would ignore createConnection and dial directly.
      ...(socket ? { createConnection: () => socket } : { agent: false })
    });
    return new Promise(resolve => {
      // Once the request went out, a failure means the proxy (or a middlebox) saw it.
      let sent = false;
      req.once('finish', () => (sent = true));
      req.once('timeout', () => req.destroy(new Error('no answer to the upgrade in time')));
      req.once('error', err => resolve({ message: err.message, declined: sent }));
      req.once('response', res => {
        res.resume();
        req.destroy();
        const status = res.statusCode ?? 0;
        resolve({
          message: `HTTP ${status}`,
          status,
          declined: status !== 401 && status !== 403
        });
      });
      req.once('upgrade', (res, raw: net.Socket, head: Buffer) => {
        raw.setTimeout(0);
        if ((res.headers.upgrade ?? '').toLowerCase() !== TUNNEL_UPGRADE) {
          raw.destroy();
          resolve({ message: `upgraded to "${res.headers.upgrade}"`, declined: true });
          return;
        }
        if (head.length > 0) raw.unshift(head);
        raw.setNoDelay(true);
        const session = this.serverSession(raw);
        // A middlebox can answer 101 and still not carry the bytes: up means HTTP/2 settings.
        const timer = setTimeout(() => {
          session.destroy();
          raw.destroy();
          resolve({ message: 'no HTTP/2 settings after the upgrade', declined: true });
        }, HANDSHAKE_TIMEOUT_MS);
        const early = (): void => {
          clearTimeout(timer);
          resolve({ message: 'the connection closed during the handshake', declined: true });
        };
        raw.once('close', early);
        session.once('remoteSettings', () => {
          clearTimeout(timer);
          raw.off('close', early);
          resolve(undefined);
          this.opened(onEnd => rawLink(raw, session, this.pingIntervalMs, onEnd));
        });
      });
      req.end();
    });
  }

  private dialWebSocket(target: URL, socket: net.Socket | undefined, fallback: boolean): void {
    const ws = new WebSocket(target, {
      headers: this.credentials(),
      perMessageDeflate: false,
      maxPayload: DEFAULT_MAX_MESSAGE_BYTES,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      followRedirects: false,
      ...(this.options.ca ? { ca: this.options.ca } : {}),
      ...(socket ? { createConnection: () => socket } : {}),
      // Masking guards middleboxes that can read the bytes; over TLS or loopback there are none,
      // and skipping it saves a pass over every byte of a download.
      ...(maskingNeeded(target) ? {} : { generateMask: (mask: Buffer) => void mask.fill(0) })
    });
    let failure = '';
    let status: number | undefined;
    let opened = false;
    ws.on('error', err => {
      failure ||= err.message;
    });
    ws.once('unexpected-response', (_req, res) => {
      status = res.statusCode;
      failure = `HTTP ${status}`;
      res.resume();
      ws.terminate();
    });
    ws.once('open', () => {
      opened = true;
      if (fallback && !this.websocketOnly) {
        this.websocketOnly = true;
        this.log('using WebSocket for this tunnel from now on');
      }
      const raw = (ws as unknown as { _socket?: net.Socket })._socket;
      raw?.setNoDelay(true);
      this.serverSession(webSocketDuplex(ws));
      this.opened(onEnd => webSocketLink(ws, this.pingIntervalMs, onEnd));
    });
    ws.once('close', code => {
      if (!opened) this.failed({ message: failure || `code ${code}`, status });
    });
  }

  private get pingIntervalMs(): number {
    return this.options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS;
  }

  private opened(create: (onEnd: (ending: Ending) => void) => Link): void {
    const openedAt = Date.now();
    const link: Link = create(ending => this.closed(link, openedAt, ending));
    if (this.stopped) {
      // stop() came while the handshake was in flight.
      void link.close();
      return;
    }
    this.link = link;
    this.refusals = 0;
    this.log('tunnel connected');
    this.emit('connected');
  }

  /** A tunnel that was up went down. */
  private closed(link: Link, openedAt: number, { code, reason, failure }: Ending): void {
    if (this.link === link) this.link = undefined;
    this.emit('disconnected', reason || failure || `code ${code}`);
    if (this.stopped) return;
    if (code === CLOSE_REPLACED) {
      this.end('replaced', 'another agent connected for this session');
      return;
    }
    if (isFinalCloseCode(code)) {
      this.end('session-ended', reason || 'the session ended');
      return;
    }
    if (Date.now() - openedAt > 10_000) this.attempt = 0;
    const why = failure || (reason ? `${reason}, code ${code}` : '');
    this.retry(`tunnel lost (${why || (code === 1006 ? 'connection dropped' : `code ${code}`)})`);
  }

  /** A connection attempt failed before the tunnel was up. */
  private failed({ message, status }: Failure): void {
    if (this.stopped) return;
    if (status === 401 || status === 403) {
      const refused = `the proxy refused this session's secret (HTTP ${status})`;
      if (++this.refusals >= (this.options.maxRefusals ?? 5)) {
        this.end('refused', refused);
        return;
      }
      this.retry(`tunnel connection failed (${refused})`);
      return;
    }
    const why = status ? `the proxy server answered HTTP ${status}` : message;
    this.retry(`tunnel connection failed (${why})`);
  }

  private end(reason: EndReason, detail: string): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.log(`tunnel closed for good: ${detail}`);
    this.emit('ended', reason, detail);
  }

  private retry(why: string): void {
    if (this.stopped) return;
    const initial = this.options.initialDelayMs ?? 1_000;
    const max = this.options.maxDelayMs ?? 60_000;
    const ceiling = Math.min(max, initial * 2 ** Math.min(this.attempt, 30));
    // "Equal jitter": never hammer, and agents cut off together do not come back together.
    const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    this.attempt++;
    this.log(`${why}, retrying in ${(delay / 1000).toFixed(1)}s`);
    this.retryTimer = setTimeout(() => void this.dial(), delay);
  }

  private allowedPath(path: string): boolean {
    const base = this.options.target.basePath;
    if (!path.startsWith('/')) return false;
    const pathname = path.split('?')[0];
    let decoded: string;
    try {
      decoded = decodeURIComponent(pathname);
    } catch {
      return false;
    }
    if (/(^|\/)\.\.(\/|$)/.test(decoded) || decoded.includes('\\')) return false;
    return pathname === base.slice(0, -1) || pathname.startsWith(base);
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', () => {});
    const method = headers[':method'] ?? 'GET';
    const path = headers[':path'];
    if (method === 'CONNECT' && headers[':protocol'] !== 'websocket') {
      respondError(stream, 405, 'This agent opens no raw connections.');
      return;
    }
    if (typeof path !== 'string' || !this.allowedPath(path)) {
      respondError(stream, 404, 'Not under this session’s base URL.');
      return;
    }
    const to = this.destination(path);
    if (typeof to === 'string') {
      respondError(stream, 404, to);
      return;
    }
    if (method === 'CONNECT') this.forwardWebSocket(stream, headers, path, to);
    else this.forwardHttp(stream, headers, method, path, to);
  }

  /** The Jupyter server, a declared port on loopback, or why the path is refused. */
  private destination(path: string): Destination | string {
    const { target, ports = [] } = this.options;
    const port = portOfPath(target.basePath, path);
    if (port === undefined) return target;
    if (!ports.includes(port) || port === target.port) {
      const declared = ports.length ? ports.join(', ') : 'none';
      return `port ${Number.isNaN(port) ? '?' : port} is not declared by this session; declared: ${declared}`;
    }
    return { host: '127.0.0.1', port };
  }

  private upstreamHeaders(
    headers: http2.IncomingHttpHeaders,
    keepWebSocket: boolean,
    { host, port, token }: Destination
  ): http.OutgoingHttpHeaders {
    const out = agentRequestHeaders(headers, { keepWebSocket });
    out.host = `${host}:${port}`;
    if (token) out.authorization = `token ${token}`;
    return out;
  }

  private forwardHttp(
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    method: string,
    path: string,
    to: Destination
  ): void {
    const { host, port } = to;
    let upstream: http.ClientRequest;
    try {
      upstream = http.request({
        host,
        port,
        method,
        path,
        headers: this.upstreamHeaders(headers, false, to),
        agent: this.httpAgent
      });
    } catch {
      respondError(stream, 400, 'The request could not be forwarded.');
      return;
    }
    let complete = false;
    upstream.on('socket', socket => socket.setNoDelay(true));
    upstream.on('response', res => {
      try {
        stream.respond({
          ...forwardResponseHeaders(res.headers),
          ':status': res.statusCode ?? 502
        });
      } catch {
        res.destroy();
        stream.close(NGHTTP2_INTERNAL_ERROR);
        return;
      }
      res.on('end', () => (complete = true));
      res.on('error', () => stream.close(NGHTTP2_INTERNAL_ERROR));
      res.on('aborted', () => stream.close(NGHTTP2_INTERNAL_ERROR));
      relay(res, stream);
    });
    upstream.on('error', () => {
      if (!stream.headersSent)
        respondError(stream, 502, `Nothing answers on ${host}:${port} in the job.`);
      else stream.close(NGHTTP2_INTERNAL_ERROR);
    });
    stream.on('close', () => {
      if (!complete) upstream.destroy();
    });
    relay(stream, upstream);
  }

  private forwardWebSocket(
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    path: string,
    to: Destination
  ): void {
    const { host, port } = to;
    let upstream: http.ClientRequest;
    try {
      upstream = http.request({
        host,
        port,
        method: 'GET',
        path,
        headers: {
          ...this.upstreamHeaders(headers, true, to),
          connection: 'Upgrade',
          upgrade: 'websocket'
        },
        agent: false
      });
    } catch {
      respondError(stream, 400, 'The WebSocket request could not be forwarded.');
      return;
    }
    upstream.on('socket', socket => socket.setNoDelay(true));
    upstream.on('upgrade', (res, socket, head) => {
      socket.on('error', () => {});
      try {
        stream.respond({ ...forwardResponseHeaders(res.headers), ':status': 200 });
      } catch {
        socket.destroy();
        stream.close(NGHTTP2_INTERNAL_ERROR);
        return;
      }
      if (head.length > 0) stream.write(head);
      relay(socket, stream);
      relay(stream, socket);
      socket.on('close', () => {
        if (!stream.closed) {
          if (stream.writableEnded) return;
          stream.close(NGHTTP2_CANCEL);
        }
      });
      stream.on('close', () => closeAfterFlush(socket));
    });
    upstream.on('response', res => {
      try {
        stream.respond({
          ...forwardResponseHeaders(res.headers),
          ':status': res.statusCode ?? 502
        });
      } catch {
        res.destroy();
        stream.close(NGHTTP2_INTERNAL_ERROR);
        return;
      }
      relay(res, stream);
    });
    upstream.on('error', () => {
      if (!stream.headersSent)
        respondError(stream, 502, `Nothing answers on ${host}:${port} in the job.`);
      else stream.close(NGHTTP2_INTERNAL_ERROR);
    });
    stream.on('close', () => {
      if (!stream.headersSent) upstream.destroy();
    });
    upstream.end();
  }
}

function respondError(stream: http2.ServerHttp2Stream, status: number, message: string): void {
  if (stream.destroyed || stream.closed) return;
  if (stream.headersSent) {
    stream.close(NGHTTP2_REFUSED_STREAM);
    return;
  }
  const body = JSON.stringify({ error: 'agent_refused', message });
  stream.respond({
    ':status': status,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body)
  });
  stream.end(body);
}

function maskingNeeded(target: URL): boolean {
  if (target.protocol === 'wss:') return false;
  const host = target.hostname.replace(/^\[|\]$/g, '');
  return !(host === 'localhost' || host === '::1' || host.startsWith('127.'));
}

/**
 * Pings every interval; a link that showed no sign of life since the last ping is dead. `alive`
 * is what any sign of life (an answer, the peer's own ping) calls.
 */
function heartbeat(
  intervalMs: number,
  ping: (alive: () => void) => void,
  dead: () => void
): { alive: () => void; stop: () => void } {
  let seen = true;
  const alive = (): void => {
    seen = true;
  };
  const timer = setInterval(() => {
    if (!seen) return dead();
    seen = false;
    ping(alive);
  }, intervalMs);
  return { alive, stop: () => clearInterval(timer) };
}

/** HTTP/2 directly on the socket; close codes arrive as GOAWAY debug data. */
function rawLink(
  socket: net.Socket,
  session: http2.ServerHttp2Session,
  pingIntervalMs: number,
  onEnd: (ending: Ending) => void
): Link {
  let told: { code: number; reason: string } | undefined;
  let failure = '';
  session.on('goaway', (_code, _lastStreamId, data?: Buffer) => {
    told ??= parseGoawayData(data);
  });
  socket.on('error', err => (failure ||= err.message));
  const beat = heartbeat(
    pingIntervalMs,
    alive => {
      try {
        session.ping(err => {
          if (!err) alive();
        });
      } catch {
        // The session is closing; 'close' follows.
      }
    },
    () => {
      failure = 'no answer to ping';
      socket.destroy();
    }
  );
  session.on('ping', beat.alive);
  socket.once('close', () => {
    beat.stop();
    onEnd({ code: told?.code ?? 1006, reason: told?.reason ?? '', failure: told ? '' : failure });
  });
  return {
    get open() {
      return !socket.destroyed && !session.closed;
    },
    close() {
      return new Promise<void>(resolve => {
        if (socket.destroyed) return resolve();
        socket.once('close', () => resolve());
        // Sends GOAWAY, then ends the socket.
        session.destroy();
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 2_000).unref();
      });
    }
  };
}

/** HTTP/2 over a WebSocket's binary messages; close codes are the WebSocket's. */
function webSocketLink(
  ws: WebSocket,
  pingIntervalMs: number,
  onEnd: (ending: Ending) => void
): Link {
  let failure = '';
  const beat = heartbeat(
    pingIntervalMs,
    () => ws.ping(),
    () => {
      failure = 'no answer to ping';
      ws.terminate();
    }
  );
  ws.on('pong', beat.alive);
  ws.on('ping', beat.alive);
  ws.on('message', beat.alive);
  ws.on('error', err => (failure ||= err.message));
  ws.once('close', (code, reason) => {
    beat.stop();
    onEnd({ code, reason: reason.toString(), failure });
  });
  return {
    get open() {
      return ws.readyState === WebSocket.OPEN;
    },
    close() {
      return new Promise<void>(resolve => {
        if (ws.readyState === WebSocket.CLOSED) return resolve();
        ws.once('close', () => resolve());
        ws.close(1000, 'agent stopping');
        setTimeout(() => {
          ws.terminate();
          resolve();
        }, 2_000).unref();
      });
    }
  };
}
