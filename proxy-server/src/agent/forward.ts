/**
 * The agent's forwarding: each HTTP/2 stream the proxy opens becomes a request (or a WebSocket) to
 * the one local Jupyter server, under its base URL only, with the server's token added; or, under
 * `{base url}ports/{port}/`, to a port the session declared on loopback, path unchanged and
 * without the token. Any other port is refused here too, so the tunnel is no open relay.
 */
import http from 'node:http';
import http2 from 'node:http2';
import { portOfPath } from '@jupyterlab-interlink/contract';
import { agentRequestHeaders, forwardResponseHeaders } from '../tunnel/headers.js';
import { closeAfterFlush, relay } from '../tunnel/sockets.js';
import type { Endpoint } from './jupyter.js';

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_REFUSED_STREAM } = http2.constants;

/**
 * The one local server the agent forwards to, on loopback TCP or a Unix socket. Besides it, only
 * the declared ports are reachable through the tunnel.
 */
export type ForwardTarget = Endpoint & {
  /** The server's base_url; requests outside it are refused. Starts and ends with "/". */
  basePath: string;
  /** Sent as `Authorization: token …` on every forwarded request. */
  token?: string;
};

/** How http.request reaches a destination. */
function dialOptions(target: Destination): http.RequestOptions {
  return 'socketPath' in target
    ? { socketPath: target.socketPath }
    : { host: target.host, port: target.port };
}

/** The Host the server is told: a local name, which its Host check accepts. */
function hostHeader(target: Destination): string {
  return 'socketPath' in target ? 'localhost' : `${target.host}:${target.port}`;
}

/** Where one stream goes: the Jupyter server, or a declared port's app (never given its token). */
type Destination = Endpoint & { token?: string };

export class LocalForwarder {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxFreeSockets: 16 });

  constructor(
    private readonly target: ForwardTarget,
    private readonly ports: readonly number[] = []
  ) {
    this.httpAgent.on('free', socket => socket.setNoDelay(true));
  }

  /** Closes the kept-alive connections to the local server. */
  destroy(): void {
    this.httpAgent.destroy();
  }

  private allowedPath(path: string): boolean {
    const base = this.target.basePath;
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

  /** One stream from the proxy: a request or a WebSocket for the local server, or a refusal. */
  handle(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
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
    const port = portOfPath(this.target.basePath, path);
    if (port === undefined) return this.target;
    if (!this.ports.includes(port) || ('port' in this.target && port === this.target.port)) {
      const declared = this.ports.length ? this.ports.join(', ') : 'none';
      const named = Number.isNaN(port) ? 'that port' : `port ${port}`;
      return `${named} is not declared by this session; declared: ${declared}`;
    }
    return { host: '127.0.0.1', port };
  }

  private upstreamHeaders(
    headers: http2.IncomingHttpHeaders,
    keepWebSocket: boolean,
    to: Destination
  ): http.OutgoingHttpHeaders {
    const out = agentRequestHeaders(headers, { keepWebSocket });
    out.host = hostHeader(to);
    const { token } = to;
    if (token) out.authorization = `token ${token}`;
    return out;
  }

  /** A request to the local server, or undefined (the stream answered 400) when it cannot be made. */
  private requestLocal(
    stream: http2.ServerHttp2Stream,
    what: string,
    to: Destination,
    init: Pick<http.RequestOptions, 'method' | 'path' | 'headers' | 'agent'>
  ): http.ClientRequest | undefined {
    let upstream: http.ClientRequest;
    try {
      upstream = http.request({ ...dialOptions(to), ...init });
    } catch {
      respondError(stream, 400, `The ${what} could not be forwarded.`);
      return undefined;
    }
    upstream.on('socket', socket => socket.setNoDelay(true));
    return upstream;
  }

  private forwardHttp(
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    method: string,
    path: string,
    to: Destination
  ): void {
    const upstream = this.requestLocal(stream, 'request', to, {
      method,
      path,
      headers: this.upstreamHeaders(headers, false, to),
      agent: this.httpAgent
    });
    if (!upstream) return;
    let complete = false;
    upstream.on('response', res => {
      if (!respondWith(stream, res)) return;
      res.on('end', () => (complete = true));
      res.on('error', () => stream.close(NGHTTP2_INTERNAL_ERROR));
      res.on('aborted', () => stream.close(NGHTTP2_INTERNAL_ERROR));
      relay(res, stream);
    });
    upstream.on('error', () => {
      if (!stream.headersSent) respondError(stream, 502, noAnswer(to));
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
    const upstream = this.requestLocal(stream, 'WebSocket request', to, {
      method: 'GET',
      path,
      headers: {
        ...this.upstreamHeaders(headers, true, to),
        connection: 'Upgrade',
        upgrade: 'websocket'
      },
      agent: false
    });
    if (!upstream) return;
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
      if (respondWith(stream, res)) relay(res, stream);
    });
    upstream.on('error', () => {
      if (!stream.headersSent) respondError(stream, 502, noAnswer(to));
      else stream.close(NGHTTP2_INTERNAL_ERROR);
    });
    stream.on('close', () => {
      if (!stream.headersSent) upstream.destroy();
    });
    upstream.end();
  }
}

function noAnswer(to: Destination): string {
  return `Nothing answers on ${'socketPath' in to ? to.socketPath : `${to.host}:${to.port}`} in the job.`;
}

/** The local server's answer as the stream's response head; false (both ends cut) when it cannot be. */
function respondWith(stream: http2.ServerHttp2Stream, res: http.IncomingMessage): boolean {
  try {
    stream.respond({ ...forwardResponseHeaders(res.headers), ':status': res.statusCode ?? 502 });
    return true;
  } catch {
    res.destroy();
    stream.close(NGHTTP2_INTERNAL_ERROR);
    return false;
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
