import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

// Connection-specific headers: meaningless past one hop and forbidden in HTTP/2.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'http2-settings',
  'host',
  'expect'
]);

// The user's credentials for the proxy itself; the remote job must never see them.
const CREDENTIALS = new Set(['authorization', 'cookie', 'x-xsrftoken', 'x-csrftoken']);

// Printable header values only: a value from the other side must never split a header line.
const SAFE_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const TOKEN_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;

function listedInConnection(headers: IncomingHttpHeaders): Set<string> {
  const named = new Set<string>();
  const value = headers.connection;
  if (typeof value === 'string') {
    for (const part of value.split(',')) named.add(part.trim().toLowerCase());
  }
  return named;
}

function copyHeaders(
  headers: IncomingHttpHeaders | Record<string, string | string[] | number | undefined>,
  drop: (name: string) => boolean
): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [rawName, value] of Object.entries(headers)) {
    const name = rawName.toLowerCase();
    if (value === undefined || name.startsWith(':') || drop(name)) continue;
    if (!TOKEN_NAME.test(name)) continue;
    if (Array.isArray(value)) {
      const safe = value.filter(v => SAFE_VALUE.test(v));
      if (safe.length > 0) out[name] = safe;
    } else if (SAFE_VALUE.test(String(value))) {
      out[name] = value;
    }
  }
  return out;
}

/** Browser request headers to forward to the remote server: no hop-by-hop, no credentials. */
export function forwardRequestHeaders(
  headers: IncomingHttpHeaders,
  opts: { dropOrigin?: boolean; keepWebSocket?: boolean } = {}
): OutgoingHttpHeaders {
  const named = listedInConnection(headers);
  return copyHeaders(headers, name => {
    if (CREDENTIALS.has(name) || HOP_BY_HOP.has(name) || named.has(name)) return true;
    if (opts.dropOrigin && name === 'origin') return true;
    if (!opts.keepWebSocket && name.startsWith('sec-websocket-')) return true;
    return false;
  });
}

/**
 * Response headers from the remote server to pass to the browser. `Set-Cookie` is dropped: the
 * remote job must not plant cookies on the proxy's origin (cookies for our own paths included).
 */
export function forwardResponseHeaders(
  headers: Record<string, string | string[] | number | undefined>
): OutgoingHttpHeaders {
  const named = listedInConnection(headers as IncomingHttpHeaders);
  return copyHeaders(
    headers,
    name => name === 'set-cookie' || HOP_BY_HOP.has(name) || named.has(name)
  );
}

/** Headers the agent passes to its local server: the same hygiene, applied again on its side. */
export function agentRequestHeaders(
  headers: Record<string, string | string[] | number | undefined>,
  opts: { keepWebSocket?: boolean } = {}
): OutgoingHttpHeaders {
  const named = listedInConnection(headers as IncomingHttpHeaders);
  return copyHeaders(headers, name => {
    if (CREDENTIALS.has(name) || HOP_BY_HOP.has(name) || named.has(name)) return true;
    if (!opts.keepWebSocket && name.startsWith('sec-websocket-')) return true;
    return false;
  });
}

function decodeQueryKey(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return raw;
  }
}

/**
 * Remove every `token` query parameter (however it is percent-encoded) and leave the rest of the
 * target byte for byte as the browser sent it.
 */
export function stripTokenParam(target: string): string {
  const q = target.indexOf('?');
  if (q < 0) return target;
  const path = target.slice(0, q);
  const kept = target
    .slice(q + 1)
    .split('&')
    .filter(part => {
      const eq = part.indexOf('=');
      const key = decodeQueryKey(eq < 0 ? part : part.slice(0, eq));
      return key !== 'token';
    });
  return kept.length > 0 ? `${path}?${kept.join('&')}` : path;
}

/** A raw HTTP/1.1 response head for an upgrade socket. */
export function responseHead(status: number, reason: string, headers: OutgoingHttpHeaders): string {
  let head = `HTTP/1.1 ${status} ${reason}\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) head += `${name}: ${v}\r\n`;
  }
  return head + '\r\n';
}
