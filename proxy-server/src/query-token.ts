/**
 * Where a `?token=` in the URL is accepted. A URL ends up in access logs, browser history and
 * Referer headers, so a token in one is taken only where a browser has no other way to send it:
 * - a page load of a session's remote server (the browser then keeps the cookie this server sets);
 * - a WebSocket upgrade to a session (a browser's WebSocket cannot send an Authorization header;
 *   JupyterLab appends the token when its page is not on this host).
 * Never on {base}/api/* nor /metrics: scripts send `Authorization: token …`, pages the cookie.
 */
import type { IncomingMessage } from 'node:http';

const SESSION_ROUTE = /^\/sessions\/[^/]+(\/|$)/;

/** `rest` is the path below {base}. */
export function queryTokenAccepted(req: IncomingMessage, rest: string, upgrade = false): boolean {
  if (!SESSION_ROUTE.test(rest)) return false;
  if (upgrade) return true;
  return (req.method === 'GET' || req.method === 'HEAD') && isPageLoad(req);
}

/** A top-level navigation (Sec-Fetch-* from browsers; Accept: text/html from older ones). */
function isPageLoad(req: IncomingMessage): boolean {
  const dest = req.headers['sec-fetch-dest'];
  if (dest !== undefined) return dest === 'document';
  return /\btext\/html\b/i.test(req.headers.accept ?? '');
}

export const QUERY_TOKEN_REFUSED = {
  error: 'token_in_url',
  message:
    '?token= is accepted only when a browser opens a page; send "Authorization: token <token>" instead (a token in a URL ends up in access logs)'
};
