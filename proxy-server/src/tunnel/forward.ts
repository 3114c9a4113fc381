/**
 * The endpoint's forwarding: a browser's request or WebSocket becomes one HTTP/2 stream on the
 * session's tunnel (RFC 8441 extended CONNECT for WebSockets), without the browser's credentials.
 */
import http2 from 'node:http2';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Gauge } from 'prom-client';
import {
  forwardRequestHeaders,
  forwardResponseHeaders,
  responseHead,
  stripTokenParam
} from './headers.js';
import { closeAfterFlush, relay } from './sockets.js';
import { sendJson } from '../json-reply.js';

const { NGHTTP2_CANCEL } = http2.constants;

/** What forwarding reports to: the endpoint's log and its open-streams gauge. */
export interface Forwarding {
  log: Logger;
  streamsOpen: Gauge<'kind'>;
}

function track(f: Forwarding, stream: http2.ClientHttp2Stream, kind: 'http' | 'websocket'): void {
  f.streamsOpen.inc({ kind });
  stream.once('close', () => f.streamsOpen.dec({ kind }));
}

/** A browser's HTTP request through the tunnel's HTTP/2 client. */
export function forwardRequest(
  client: http2.ClientHttp2Session,
  sessionId: string,
  req: IncomingMessage,
  res: ServerResponse,
  f: Forwarding,
  path = req.url ?? '/'
): void {
  const method = req.method ?? 'GET';
  const headers: http2.OutgoingHttpHeaders = {
    ...forwardRequestHeaders(req.headers),
    ':method': method,
    ':path': stripTokenParam(path),
    ':scheme': 'http',
    ':authority': 'jupyter'
  };
  const hasBody =
    (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') ||
    req.headers['transfer-encoding'] !== undefined;
  let stream: http2.ClientHttp2Stream;
  try {
    stream = client.request(headers, { endStream: !hasBody });
  } catch (err) {
    f.log.warn({ sessionId, err: (err as Error).message }, 'could not open a tunnel stream');
    sendJson(res, 502, tunnelDownBody());
    req.resume();
    return;
  }
  track(f, stream, 'http');

  stream.on('response', h => {
    const status = Number(h[':status']);
    try {
      res.writeHead(status, forwardResponseHeaders(h));
    } catch (err) {
      f.log.warn({ sessionId, err: (err as Error).message }, 'bad response head from agent');
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

/** A browser's WebSocket through the tunnel, as an extended CONNECT stream. */
export function forwardUpgrade(
  client: http2.ClientHttp2Session,
  sessionId: string,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  f: Forwarding
): void {
  if ((headerValue(req, 'upgrade') ?? '').toLowerCase() !== 'websocket') {
    writeError(socket, 400, 'bad_request', 'Only WebSocket upgrades are proxied.');
    return;
  }
  if (!client.remoteSettings.enableConnectProtocol) {
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
    stream = client.request(headers, { endStream: false });
  } catch (err) {
    f.log.warn({ sessionId, err: (err as Error).message }, 'could not open a tunnel stream');
    const body = tunnelDownBody();
    writeError(socket, 502, body.error, body.message);
    return;
  }
  track(f, stream, 'websocket');

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

export function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export function tunnelDownBody(): { error: string; message: string } {
  return {
    error: 'tunnel_down',
    message:
      'The remote Jupyter server is not connected right now (its tunnel is down). ' +
      'If the session is still starting or the connection dropped, try again in a few seconds.'
  };
}

/** An HTTP error on a socket that has not been upgraded. */
export function writeError(
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
