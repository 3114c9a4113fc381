import { EventEmitter } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { WebSocket } from 'ws';
import {
  CONNECTION_WINDOW_BYTES,
  CLOSE_REPLACED,
  CLOSE_SESSION_ENDED,
  DEFAULT_MAX_HEADER_BYTES,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_PING_INTERVAL_MS,
  MAX_SESSION_MEMORY_MB,
  SESSION_HEADER,
  STREAM_WINDOW_BYTES,
  isFinalCloseCode
} from '../tunnel/protocol.js';
import { agentRequestHeaders, forwardResponseHeaders } from '../tunnel/headers.js';
import { webSocketDuplex } from '../tunnel/ws-duplex.js';
import { closeAfterFlush, relay } from '../tunnel/sockets.js';
import { connectThroughProxy, proxyFor, type ProxyEnv } from './proxy-dial.js';

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

export interface TunnelAgentOptions {
  /** ws:// or wss:// URL of the proxy's tunnel endpoint. */
  url: string;
  sessionId: string;
  secret: string;
  target: ForwardTarget;
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
}

export type EndReason = 'session-ended' | 'replaced' | 'refused';

/**
 * Dials the proxy, serves the HTTP/2 streams it opens by forwarding them to the local server, and
 * redials with exponential backoff and jitter whenever the connection drops. It stops for good
 * when the proxy says the session ended (close codes 4000-4099) or keeps refusing its secret.
 */
export class TunnelAgent extends EventEmitter<{
  connected: [];
  disconnected: [reason: string];
  ended: [reason: EndReason, detail: string];
}> {
  private readonly server: http2.Http2Server;
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxFreeSockets: 16 });
  private readonly log: (line: string) => void;
  private ws: WebSocket | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private attempt = 0;
  private refusals = 0;
  private readonly sessions = new Set<http2.ServerHttp2Session>();

  constructor(private readonly options: TunnelAgentOptions) {
    super();
    this.log = options.log ?? (() => {});
    this.server = http2.createServer({
      settings: {
        enableConnectProtocol: true,
        initialWindowSize: STREAM_WINDOW_BYTES,
        maxConcurrentStreams: 1000,
        maxHeaderListSize: DEFAULT_MAX_HEADER_BYTES
      },
      maxSessionMemory: MAX_SESSION_MEMORY_MB
    });
    this.server.on('session', session => {
      this.sessions.add(session);
      session.on('close', () => this.sessions.delete(session));
      session.on('error', () => {});
      try {
        session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
      } catch {
        // Not fatal: the default window only slows bulk uploads.
      }
    });
    this.server.on('stream', (stream, headers) => this.onStream(stream, headers));
    this.httpAgent.on('free', socket => socket.setNoDelay(true));
  }

  get connected(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  start(): void {
    this.stopped = false;
    void this.dial();
  }

  /** Close the tunnel and stop redialing. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const ws = this.ws;
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      await new Promise<void>(resolve => {
        ws.once('close', () => resolve());
        ws.close(1000, 'agent stopping');
        setTimeout(() => {
          ws.terminate();
          resolve();
        }, 2_000).unref();
      });
    }
    for (const session of this.sessions) session.destroy();
    this.httpAgent.destroy();
  }

  private async dial(): Promise<void> {
    if (this.stopped) return;
    const { url, sessionId, secret } = this.options;
    let target: URL;
    let socket: net.Socket | undefined;
    try {
      target = new URL(url);
      const proxy = proxyFor(target, this.options.env);
      if (proxy) socket = await connectThroughProxy(proxy, target, { ca: this.options.ca });
    } catch (err) {
      this.retry(`cannot reach the proxy server: ${(err as Error).message}`);
      return;
    }
    if (this.stopped) {
      socket?.destroy();
      return;
    }
    const ws = new WebSocket(target, {
      headers: { Authorization: `Bearer ${secret}`, [SESSION_HEADER]: sessionId },
      perMessageDeflate: false,
      maxPayload: DEFAULT_MAX_MESSAGE_BYTES,
      handshakeTimeout: 15_000,
      followRedirects: false,
      ...(this.options.ca ? { ca: this.options.ca } : {}),
      ...(socket ? { createConnection: () => socket } : {}),
      // Masking guards middleboxes that can read the bytes; over TLS or loopback there are none,
      // and skipping it saves a pass over every byte of a download.
      ...(maskingNeeded(target) ? {} : { generateMask: (mask: Buffer) => void mask.fill(0) })
    });
    this.ws = ws;
    let openedAt = 0;
    let failure = '';
    let alive = true;
    let pinger: NodeJS.Timeout | undefined;

    ws.on('error', err => {
      failure = err.message;
    });
    ws.on('open', () => {
      openedAt = Date.now();
      this.refusals = 0;
      const raw = (ws as unknown as { _socket?: net.Socket })._socket;
      raw?.setNoDelay(true);
      this.log('tunnel connected');
      this.server.emit('connection', webSocketDuplex(ws));
      const interval = this.options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS;
      pinger = setInterval(() => {
        if (!alive) {
          failure = 'no answer to ping';
          ws.terminate();
          return;
        }
        alive = false;
        ws.ping();
      }, interval);
      this.emit('connected');
    });
    const markAlive = (): void => {
      alive = true;
    };
    ws.on('pong', markAlive);
    ws.on('ping', markAlive);
    ws.on('message', markAlive);
    ws.on('close', (code, reasonBuffer) => {
      clearInterval(pinger);
      if (this.ws === ws) this.ws = undefined;
      const reason = reasonBuffer.toString();
      if (openedAt > 0) this.emit('disconnected', reason || failure || `code ${code}`);
      if (this.stopped) return;
      if (code === CLOSE_SESSION_ENDED || (isFinalCloseCode(code) && code !== CLOSE_REPLACED)) {
        this.end('session-ended', reason || 'the session ended');
        return;
      }
      if (code === CLOSE_REPLACED) {
        this.end('replaced', 'another agent connected for this session');
        return;
      }
      if (openedAt > 0 && Date.now() - openedAt > 10_000) this.attempt = 0;
      const status = /Unexpected server response: (\d+)/.exec(failure)?.[1];
      if (status === '401' || status === '403') {
        this.refusals++;
        if (this.refusals >= (this.options.maxRefusals ?? 5)) {
          this.end('refused', `the proxy refused this session's secret (HTTP ${status})`);
          return;
        }
      }
      const what = openedAt > 0 ? 'tunnel lost' : 'tunnel connection failed';
      this.retry(`${what} (${describeClose(code, reason, failure)})`);
    });
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
    if (method === 'CONNECT') this.forwardWebSocket(stream, headers, path);
    else this.forwardHttp(stream, headers, method, path);
  }

  private upstreamHeaders(
    headers: http2.IncomingHttpHeaders,
    keepWebSocket: boolean
  ): http.OutgoingHttpHeaders {
    const { host, port, token } = this.options.target;
    const out = agentRequestHeaders(headers, { keepWebSocket });
    out.host = `${host}:${port}`;
    if (token) out.authorization = `token ${token}`;
    return out;
  }

  private forwardHttp(
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    method: string,
    path: string
  ): void {
    const { host, port } = this.options.target;
    let upstream: http.ClientRequest;
    try {
      upstream = http.request({
        host,
        port,
        method,
        path,
        headers: this.upstreamHeaders(headers, false),
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
      if (!stream.headersSent) respondError(stream, 502, 'The Jupyter server did not answer.');
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
    path: string
  ): void {
    const { host, port } = this.options.target;
    let upstream: http.ClientRequest;
    try {
      upstream = http.request({
        host,
        port,
        method: 'GET',
        path,
        headers: {
          ...this.upstreamHeaders(headers, true),
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
      if (!stream.headersSent) respondError(stream, 502, 'The Jupyter server did not answer.');
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

function describeClose(code: number, reason: string, failure: string): string {
  const status = Number(/Unexpected server response: (\d+)/.exec(failure)?.[1]);
  if (status === 401 || status === 403)
    return `the proxy refused this session's secret (HTTP ${status})`;
  if (status) return `the proxy server answered HTTP ${status}`;
  if (failure) return failure;
  if (reason) return `${reason}, code ${code}`;
  return code === 1006 ? 'connection dropped' : `code ${code}`;
}
