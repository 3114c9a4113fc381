/**
 * Who is calling. Every HTTP route and every WebSocket upgrade goes through `identify` first.
 *
 * Standalone, one person owns the server: the token printed at start, sent as Jupyter's
 * `Authorization: token …`, a `?token=` query (kernel WebSockets from the browser carry it that way)
 * or the cookie set when the browser first opened the printed URL.
 * Under JupyterHub, see hub-auth.ts: the hub says who a token or an OAuth login belongs to.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from './json-reply.js';

// hub-auth.ts answers through auth.ts's exports
export { sendJson };

export interface Caller {
  name: string;
  groups: string[];
  /** How the request proved it: cookie-only requests get a same-origin check on state changes. */
  via: 'header' | 'query' | 'cookie';
}

export interface Authenticator {
  /** The caller, or null when the request carries no valid identity. */
  identify(req: IncomingMessage): Promise<Caller | null>;
  /** Answers a request from someone not signed in (a JSON 401, or a login redirect). */
  challenge(req: IncomingMessage, res: ServerResponse): void;
  /** Routes the authenticator owns itself (an OAuth callback); true when it answered. */
  handle?(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  /** Lets the front door turn a valid `?token=` into a cookie (standalone only). */
  cookieFor?(req: IncomingMessage): string | null;
}

export const COOKIE_NAME = 'interlink-token';

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    try {
      out.set(key, decodeURIComponent(value));
    } catch {
      out.set(key, value);
    }
  }
  return out;
}

/**
 * Every value a cookie name has in the header, in the browser's order: a page of the same origin
 * can set one more of the same name under another path, and the server must see both.
 */
export function cookieValues(header: string | undefined, name: string): string[] {
  const values: string[] = [];
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0 || part.slice(0, eq).trim() !== name) continue;
    const value = part.slice(eq + 1).trim();
    try {
      values.push(decodeURIComponent(value));
    } catch {
      values.push(value);
    }
  }
  return values;
}

/** `Authorization: token X` (Jupyter) or `Bearer X`. */
export function tokenFromHeader(req: IncomingMessage): string | null {
  const m = /^(?:token|bearer)\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  return m ? m[1] : null;
}

export function tokenFromQuery(req: IncomingMessage): string | null {
  const url = new URL(req.url ?? '/', 'http://x');
  return url.searchParams.get('token');
}

/** Constant-time comparison through fixed-length digests. */
export function sameSecret(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

/**
 * Tokens that each stand for one user: standalone, the one printed token and its owner; a site
 * may also hand out per-user tokens (a file of them) to scripts.
 */
export class TokenAuthenticator implements Authenticator {
  private readonly tokens: Map<string, string>;

  constructor(tokens: Map<string, string> | string, user?: string) {
    this.tokens = typeof tokens === 'string' ? new Map([[tokens, user ?? 'user']]) : tokens;
  }

  async identify(req: IncomingMessage): Promise<Caller | null> {
    const header = tokenFromHeader(req);
    if (header !== null) return this.caller(header, 'header');
    const query = tokenFromQuery(req);
    if (query !== null) return this.caller(query, 'query');
    const cookie = parseCookies(req.headers.cookie).get(COOKIE_NAME);
    return cookie !== undefined ? this.caller(cookie, 'cookie') : null;
  }

  challenge(_req: IncomingMessage, res: ServerResponse): void {
    sendJson(res, 401, {
      error: 'unauthenticated',
      message:
        'Sign in first: open the URL the server printed (with ?token=…), or send Authorization: token <token>.'
    });
  }

  cookieFor(req: IncomingMessage): string | null {
    const query = tokenFromQuery(req);
    if (query === null || !this.caller(query, 'query')) return null;
    // HttpOnly: page scripts never read it; SameSite=Strict: other sites cannot ride on it.
    return `${COOKIE_NAME}=${encodeURIComponent(query)}; Path=/; HttpOnly; SameSite=Strict`;
  }

  private caller(token: string, via: Caller['via']): Caller | null {
    // Compare against every token, so the time taken says nothing about which one is close.
    let name: string | null = null;
    for (const [known, user] of this.tokens) if (sameSecret(token, known)) name = user;
    return name === null ? null : { name, groups: [], via };
  }
}
