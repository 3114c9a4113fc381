/**
 * What a session's remote server may do to the browser through {base}/sessions/{id}/…. Its pages
 * are written by whoever controls the job (the user, a site admin, a co-tenant on the node, anyone
 * on the path), yet they are served from the proxy's origin. So they are served sandboxed: a page
 * runs in an opaque origin, where it cannot read the proxy's cookies, call its API with them or
 * register a service worker on it. The extension itself talks to the remote server with fetch and
 * WebSockets, which a document's CSP does not touch.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';

/**
 * Scripts, forms, pop-ups, dialogs and downloads still work, inside the opaque origin; what is
 * left out is `allow-same-origin` (the whole point), `allow-top-navigation` and
 * `allow-popups-to-escape-sandbox` (ways back to the real origin).
 */
export const SANDBOX_CSP =
  'sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads';

/** Response headers a remote page must not set on the proxy's origin. */
const DROPPED = (name: string): boolean =>
  name === 'service-worker-allowed' ||
  name === 'clear-site-data' ||
  name.startsWith('access-control-');

export interface RemoteContentOptions {
  /**
   * The site trusts its remote server's own UI (JupyterLab opened at the session's URL) to run
   * with the proxy's origin: no CSP sandbox. The other rules still hold.
   */
  trusted?: boolean;
}

/** A service worker would outlive the page and intercept every later request to the origin. */
export function isServiceWorkerScript(req: IncomingMessage): boolean {
  const value = req.headers['service-worker'];
  return (Array.isArray(value) ? value[0] : value)?.trim().toLowerCase() === 'script';
}

/** The headers as they leave for the browser. */
export function remoteResponseHeaders(
  headers: OutgoingHttpHeaders,
  options: RemoteContentOptions = {}
): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!DROPPED(name.toLowerCase())) out[name.toLowerCase()] = value;
  }
  out['x-content-type-options'] = 'nosniff';
  if (!options.trusted) {
    const own = out['content-security-policy'];
    const policies: string[] =
      own === undefined ? [] : Array.isArray(own) ? own.map(String) : [String(own)];
    // Several CSP headers all apply, each can only restrict: the remote's own stay, ours is added.
    (out as Record<string, string[]>)['content-security-policy'] = [...policies, SANDBOX_CSP];
  }
  return out;
}

/**
 * Applies the rules to whatever head `res` is given, however it is written (writeHead with an
 * object or setHeader calls before it): the tunnel stays unaware of them.
 */
export function guardRemoteResponse(res: ServerResponse, options: RemoteContentOptions = {}): void {
  const writeHead = res.writeHead as (this: ServerResponse, ...args: unknown[]) => ServerResponse;
  res.writeHead = function (this: ServerResponse, status: number, ...rest: unknown[]) {
    const reason = typeof rest[0] === 'string' ? (rest.shift() as string) : undefined;
    const given = rest[0];
    const headers: OutgoingHttpHeaders = {};
    for (const name of this.getHeaderNames()) {
      headers[name] = this.getHeader(name);
      this.removeHeader(name);
    }
    if (Array.isArray(given)) {
      for (let i = 0; i + 1 < given.length; i += 2) {
        headers[String(given[i]).toLowerCase()] = given[i + 1] as string;
      }
    } else if (given && typeof given === 'object') {
      for (const [name, value] of Object.entries(given)) headers[name.toLowerCase()] = value;
    }
    const guarded = remoteResponseHeaders(headers, options);
    return reason === undefined
      ? writeHead.call(this, status, guarded)
      : writeHead.call(this, status, reason, guarded);
  } as ServerResponse['writeHead'];
}
