import { EventEmitter } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import { hostname } from 'node:os';
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
  USAGE_PATH,
  AGENT_HEADER,
  agentHeaderValue,
  STREAM_WINDOW_BYTES,
  TUNNEL_UPGRADE,
  isFinalCloseCode
} from '../tunnel/protocol.js';
import { webSocketDuplex } from '../tunnel/ws-duplex.js';
import {
  rawLink,
  webSocketLink,
  type LinkEnding,
  type LinkOptions,
  type TunnelLink
} from '../tunnel/link.js';
import { connectThroughProxy, proxyFor, type ProxyEnv } from './proxy-dial.js';
import { tunnelUrlProblem } from './tunnel-url.js';
import { LocalForwarder, type ForwardTarget } from './forward.js';
import { UsageSampler } from './usage.js';
import { FileWriter } from './files-write.js';

export type { ForwardTarget } from './forward.js';

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
  /** The remote Jupyter server's root: where the write route (FILES_WRITE_PATH) writes. */
  rootDir?: string;
  /** Progress lines for the job log. Never given secrets or tokens. */
  log?: (line: string) => void;
  /** Proxy variables (HTTPS_PROXY, NO_PROXY, …); defaults to process.env. */
  env?: ProxyEnv;
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** How the agent names itself to the proxy, shown to the owner (default: this process, this host). */
  self?: { pid: number; host: string };
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

export type EndReason = 'session-ended' | 'refused';

/** A stopping agent closes its link this politely, and cuts it after this long. */
const STOP_CODE = 1000;
const STOP_REASON = 'agent stopping';
const CLOSE_GRACE_MS = 2_000;

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
  private readonly forwarder: LocalForwarder;
  private readonly usage = new UsageSampler();
  private readonly files: FileWriter;
  private readonly log: (line: string) => void;
  private link: TunnelLink | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private attempt = 0;
  private refusals = 0;
  /** Times in a row another agent took this session's tunnel over. */
  private displaced = 0;
  private websocketOnly: boolean;
  /** The HTTP/2 servers the proxy's requests arrive on, one per link. */
  private readonly servers = new Set<http2.ServerHttp2Session>();

  constructor(private readonly options: TunnelAgentOptions) {
    super();
    const problem = tunnelUrlProblem(new URL(options.url));
    if (problem) throw new Error(problem);
    this.log = options.log ?? (() => {});
    this.websocketOnly = options.transport === 'websocket';
    this.forwarder = new LocalForwarder(options.target, options.ports);
    this.files = new FileWriter(options.rootDir);
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
    await this.link?.close(STOP_CODE, STOP_REASON);
    for (const server of this.servers) server.destroy();
    this.forwarder.destroy();
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

  /** The node's usage, for the proxy only (see USAGE_PATH). */
  private async serveUsage(stream: http2.ServerHttp2Stream): Promise<void> {
    stream.on('error', () => {});
    try {
      const body = JSON.stringify(await this.usage.sample());
      if (!stream.closed) {
        stream.respond({ ':status': 200, 'content-type': 'application/json' });
        stream.end(body);
      }
    } catch (err) {
      if (!stream.closed) {
        stream.respond({ ':status': 500 });
        stream.end((err as Error).message);
      }
    }
  }

  private credentials(): Record<string, string> {
    const { sessionId, secret } = this.options;
    return {
      Authorization: `Bearer ${secret}`,
      [SESSION_HEADER]: sessionId,
      [AGENT_HEADER]: agentHeaderValue(
        this.options.self?.pid ?? process.pid,
        this.options.self?.host ?? hostname()
      )
    };
  }

  private http2Server(transport: Duplex): http2.ServerHttp2Session {
    const session = http2.performServerHandshake(transport, {
      settings: {
        enableConnectProtocol: true,
        initialWindowSize: STREAM_WINDOW_BYTES,
        maxConcurrentStreams: 1000,
        maxHeaderListSize: DEFAULT_MAX_HEADER_BYTES
      },
      maxSessionMemory: MAX_SESSION_MEMORY_MB
    });
    this.servers.add(session);
    session.on('close', () => this.servers.delete(session));
    session.on('error', () => {});
    session.on('stream', (stream, headers) => {
      if (headers[':path'] === USAGE_PATH && headers[':method'] === 'GET') {
        void this.serveUsage(stream);
      } else if (this.files.handles(headers)) {
        void this.files.handle(stream, headers);
      } else {
        this.forwarder.handle(stream, headers);
      }
    });
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
        const session = this.http2Server(raw);
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
          this.opened(onEnd => rawLink(raw, session, this.linkOptions(onEnd)));
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
      this.http2Server(webSocketDuplex(ws));
      this.opened(onEnd => webSocketLink(ws, this.linkOptions(onEnd)));
    });
    ws.once('close', code => {
      if (!opened) this.failed({ message: failure || `code ${code}`, status });
    });
  }

  private linkOptions(onEnd: (ending: LinkEnding) => void): LinkOptions {
    return {
      pingIntervalMs: this.options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS,
      closeGraceMs: CLOSE_GRACE_MS,
      onEnd
    };
  }

  private opened(create: (onEnd: (ending: LinkEnding) => void) => TunnelLink): void {
    const openedAt = Date.now();
    const link: TunnelLink = create(ending => this.closed(link, openedAt, ending));
    if (this.stopped) {
      // stop() came while the handshake was in flight.
      void link.close(STOP_CODE, STOP_REASON);
      return;
    }
    this.link = link;
    this.refusals = 0;
    this.log('tunnel connected');
    this.emit('connected');
  }

  /** A tunnel that was up went down. */
  private closed(link: TunnelLink, openedAt: number, { code, reason, failure }: LinkEnding): void {
    if (this.link === link) this.link = undefined;
    this.emit('disconnected', reason || failure || `code ${code}`);
    if (this.stopped) return;
    if (code === CLOSE_REPLACED) {
      // Another agent holds the session's secret. If it is an impostor, the owner is told and
      // sees it; this agent keeps coming back, more slowly each time, rather than give up.
      this.displaced++;
      const delay = Math.min(this.options.maxDelayMs ?? 60_000, 5_000 * 2 ** (this.displaced - 1));
      this.log(`another agent took over this session's tunnel; retrying in ${delay / 1000}s`);
      this.retryTimer = setTimeout(() => void this.dial(), delay);
      return;
    }
    if (Date.now() - openedAt > 60_000) this.displaced = 0;
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
}

function maskingNeeded(target: URL): boolean {
  if (target.protocol === 'wss:') return false;
  const host = target.hostname.replace(/^\[|\]$/g, '');
  return !(host === 'localhost' || host === '::1' || host.startsWith('127.'));
}
