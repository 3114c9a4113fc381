/**
 * Identity under JupyterHub: the proxy server is a hub-managed service.
 * - A token (`Authorization: token …`, or `?token=` on WebSockets) is resolved by the hub's
 *   `GET /user` and accepted only with one of this service's access scopes
 *   ($JUPYTERHUB_OAUTH_ACCESS_SCOPES), as JupyterHub's own HubAuth does: the single-user
 *   server's token, which JupyterLab sends everywhere, does not open this service.
 * - Browsers sign in with the hub's OAuth code flow. The access token it yields is kept in an
 *   HttpOnly cookie signed with a key derived from this service's hub token, and resolved like
 *   any token (cached for a minute), so a revoked token or a changed group shows within a minute.
 * The first of header, query and cookie that the hub accepts wins: a page whose token is not for
 * this service still gets in by its cookie.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  cookieValues,
  parseCookies,
  sendJson,
  tokenFromHeader,
  tokenFromQuery,
  type Authenticator,
  type Caller
} from './auth.js';
import type { Logger } from './logging.js';

const SESSION_COOKIE = 'interlink-hub-session';
/** JupyterHub's own sign-in (HttpOnly, on the hub's base path): our cookie is bound to it. */
const HUB_SESSION_COOKIE = 'jupyterhub-session-id';
/** One cookie per sign-in in flight (`…-<state>`): the API and the event stream may start together. */
const STATE_COOKIE = 'interlink-oauth-state';
const STATE_SECONDS = 600;
const DEFAULT_SESSION_SECONDS = 8 * 3600;
const CACHE_OK_MS = 60_000;
const CACHE_REFUSED_MS = 10_000;

interface HubUser {
  name: string;
  groups: string[];
}

export interface HubAuthOptions {
  apiUrl: string;
  apiToken: string;
  clientId: string;
  /** Path (or URL) of this service's OAuth callback. */
  callbackUrl: string;
  /** This service's prefix, e.g. /services/interlink/ */
  prefix: string;
  /** The hub's base URL, e.g. / */
  hubBase: string;
  /**
   * The hub's public scheme and host where it differs from this service's (a hub with
   * subdomains: the service is at `interlink--service.<domain>`), else ''.
   */
  hubHost?: string;
  /** Scopes of which a token needs one to use this service. */
  accessScopes: string[];
  logger: Logger;
}

export class HubAuthenticator implements Authenticator {
  private readonly cache = new Map<string, { user: HubUser | null; until: number }>();
  private readonly key: Buffer;
  private readonly callbackPath: string;

  constructor(private readonly options: HubAuthOptions) {
    this.key = createHash('sha256').update(`interlink-cookie:${options.apiToken}`).digest();
    this.callbackPath = new URL(options.callbackUrl, 'http://x').pathname;
  }

  static fromEnvironment(logger: Logger): HubAuthenticator {
    const need = (name: string): string => {
      const value = process.env[name];
      if (!value) throw new Error(`running under JupyterHub but ${name} is not set`);
      return value;
    };
    const rawPrefix = need('JUPYTERHUB_SERVICE_PREFIX');
    const prefix = rawPrefix.endsWith('/') ? rawPrefix : `${rawPrefix}/`;
    // The hub names the scopes that open this service (access:services and its own filter).
    const declared = need('JUPYTERHUB_OAUTH_ACCESS_SCOPES');
    let accessScopes: string[];
    try {
      const parsed: unknown = JSON.parse(declared);
      if (!Array.isArray(parsed) || !parsed.length) throw new Error('not a list');
      accessScopes = parsed.map(String);
    } catch {
      throw new Error(`JUPYTERHUB_OAUTH_ACCESS_SCOPES must be a JSON list of scopes: ${declared}`);
    }
    return new HubAuthenticator({
      apiUrl: need('JUPYTERHUB_API_URL').replace(/\/+$/, ''),
      apiToken: need('JUPYTERHUB_API_TOKEN'),
      clientId: need('JUPYTERHUB_CLIENT_ID'),
      callbackUrl: need('JUPYTERHUB_OAUTH_CALLBACK_URL'),
      prefix,
      hubBase: process.env.JUPYTERHUB_BASE_URL ?? '/',
      hubHost: process.env.JUPYTERHUB_HOST ?? '',
      accessScopes,
      logger
    });
  }

  get prefix(): string {
    return this.options.prefix;
  }

  async identify(req: IncomingMessage): Promise<Caller | null> {
    const header = tokenFromHeader(req);
    if (header !== null) {
      const user = await this.userForToken(header);
      if (user) return { ...user, via: 'header' };
    }
    const query = tokenFromQuery(req);
    if (query !== null) {
      const user = await this.userForToken(query);
      if (user) return { ...user, via: 'query' };
    }
    const token = this.cookieToken(req);
    if (token) {
      const user = await this.userForToken(token);
      if (user) return { ...user, via: 'cookie' };
    }
    return null;
  }

  /**
   * The access token of our cookie, if it belongs to this browser's hub sign-in. On a hub without
   * subdomains, a page in another user's server shares this origin and can set cookies here under
   * any path: its own sealed session (so the victim would act as the attacker), or a second hub
   * session id. So a session counts only when it was sealed with the hub session id the browser
   * sends, and no cookie counts when the browser sends two different ones.
   */
  private cookieToken(req: IncomingMessage): string | undefined {
    const hubSessions = new Set(cookieValues(req.headers.cookie, HUB_SESSION_COOKIE));
    if (hubSessions.size > 1) {
      this.options.logger.warn('two JupyterHub session cookies: one was planted; cookie refused');
      return undefined;
    }
    const hubSession = [...hubSessions][0] ?? null;
    for (const sealed of cookieValues(req.headers.cookie, SESSION_COOKIE)) {
      const session = this.unseal(sealed) as { token?: unknown; hub?: unknown } | null;
      if (session && typeof session.token === 'string' && session.hub === hubSession) {
        return session.token;
      }
    }
    return undefined;
  }

  challenge(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return sendJson(res, 401, {
        error: 'unauthenticated',
        message:
          'sign in to JupyterHub first, or send "Authorization: token <token>" with a token that may use this service'
      });
    }
    // A GET (the extension's first call, or a browser tab) goes through the hub's OAuth flow and
    // comes back here with the cookie; fetch follows these same-origin redirects by itself. On a
    // hub with subdomains the hub is on another host (only a browser tab goes there).
    const state = randomBytes(16).toString('base64url');
    const next = req.url ?? this.options.prefix;
    const authorize = new URL(
      `${this.options.hubBase.replace(/\/+$/, '')}/hub/api/oauth2/authorize`,
      'http://x'
    );
    authorize.searchParams.set('client_id', this.options.clientId);
    authorize.searchParams.set('redirect_uri', this.options.callbackUrl);
    authorize.searchParams.set('response_type', 'code');
    authorize.searchParams.set('state', state);
    res.writeHead(302, {
      location: `${(this.options.hubHost ?? '').replace(/\/+$/, '')}${authorize.pathname}${authorize.search}`,
      'set-cookie': this.cookie(
        req,
        `${STATE_COOKIE}-${state}`,
        this.seal({ next }, STATE_SECONDS),
        STATE_SECONDS,
        this.callbackPath
      ),
      'cache-control': 'no-store'
    });
    res.end();
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== this.callbackPath) return false;
    const state = url.searchParams.get('state') ?? '';
    const stateCookie = `${STATE_COOKIE}-${state}`;
    const saved = /^[\w-]{16,64}$/.test(state)
      ? (this.unseal(parseCookies(req.headers.cookie).get(stateCookie) ?? '') as {
          next?: unknown;
        } | null)
      : null;
    const code = url.searchParams.get('code');
    if (!saved || !code) {
      sendJson(res, 400, {
        error: 'oauth_state',
        message: 'sign-in expired or came from elsewhere; reload the page'
      });
      return true;
    }
    let tokenRes: Response;
    try {
      tokenRes = await fetch(`${this.options.apiUrl}/oauth2/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          client_id: this.options.clientId,
          client_secret: this.options.apiToken,
          grant_type: 'authorization_code',
          code,
          redirect_uri: this.options.callbackUrl
        }),
        signal: AbortSignal.timeout(10_000)
      });
    } catch (err) {
      this.options.logger.warn({ err: (err as Error).message }, 'hub API unreachable');
      sendJson(res, 502, { error: 'hub_unreachable', message: 'JupyterHub does not answer' });
      return true;
    }
    if (!tokenRes.ok) {
      this.options.logger.warn({ status: tokenRes.status }, 'hub refused the OAuth code');
      sendJson(res, 403, {
        error: 'oauth_failed',
        message: 'JupyterHub did not confirm the sign-in'
      });
      return true;
    }
    const { access_token: accessToken, expires_in: expiresIn } = (await tokenRes.json()) as {
      access_token: string;
      expires_in?: number;
    };
    const user = await this.userForToken(accessToken);
    if (!user) {
      sendJson(res, 403, {
        error: 'forbidden',
        message: 'JupyterHub did not let you use this service'
      });
      return true;
    }
    const seconds =
      typeof expiresIn === 'number' && expiresIn > 0
        ? Math.min(expiresIn, DEFAULT_SESSION_SECONDS)
        : DEFAULT_SESSION_SECONDS;
    const next =
      typeof saved.next === 'string' && saved.next.startsWith(this.options.prefix)
        ? saved.next
        : this.options.prefix;
    res.writeHead(302, {
      location: next,
      'set-cookie': [
        this.cookie(
          req,
          SESSION_COOKIE,
          this.seal({ token: accessToken, hub: this.hubSession(req) }, seconds),
          seconds,
          this.options.prefix
        ),
        this.cookie(req, stateCookie, '', 0, this.callbackPath)
      ],
      'cache-control': 'no-store'
    });
    res.end();
    return true;
  }

  /** This browser's JupyterHub sign-in, when it sends exactly one. */
  private hubSession(req: IncomingMessage): string | null {
    const ids = new Set(cookieValues(req.headers.cookie, HUB_SESSION_COOKIE));
    return ids.size === 1 ? [...ids][0] : null;
  }

  private cookie(
    req: IncomingMessage,
    name: string,
    value: string,
    maxAge: number,
    path: string
  ): string {
    // Behind TLS (the hub's proxy says so), the browser must never send it in clear.
    const secure = /^https\b/i.test(String(req.headers['x-forwarded-proto'] ?? ''));
    return `${name}=${encodeURIComponent(value)}; Path=${path}; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${secure ? '; Secure' : ''}`;
  }

  private async userForToken(token: string): Promise<HubUser | null> {
    const key = createHash('sha256').update(token).digest('hex');
    const hit = this.cache.get(key);
    if (hit && hit.until > Date.now()) return hit.user;
    const { user, answered } = await this.fetchUser(token);
    // The hub's answer for a minute; failures for ten seconds: a revoked token stops soon.
    this.cache.set(key, { user, until: Date.now() + (answered ? CACHE_OK_MS : CACHE_REFUSED_MS) });
    if (this.cache.size > 10_000) this.cache.delete(this.cache.keys().next().value as string);
    return user;
  }

  private async fetchUser(token: string): Promise<{ user: HubUser | null; answered: boolean }> {
    try {
      const res = await fetch(`${this.options.apiUrl}/user`, {
        headers: { authorization: `token ${token}` },
        signal: AbortSignal.timeout(10_000)
      });
      if (!res.ok) return { user: null, answered: false };
      const body = (await res.json()) as {
        name?: string;
        groups?: string[];
        kind?: string;
        scopes?: string[];
      };
      // Services have no sessions here; a user token needs this service's access scope.
      const allowed =
        body.kind !== 'service' &&
        typeof body.name === 'string' &&
        (body.scopes ?? []).some(s => this.options.accessScopes.includes(s));
      return {
        user: allowed ? { name: body.name!, groups: body.groups ?? [] } : null,
        answered: true
      };
    } catch (err) {
      this.options.logger.warn({ err: (err as Error).message }, 'hub API unreachable');
      return { user: null, answered: false };
    }
  }

  private seal(value: object, seconds: number): string {
    const body = Buffer.from(
      JSON.stringify({ v: value, exp: Date.now() + seconds * 1000 })
    ).toString('base64url');
    const mac = createHmac('sha256', this.key).update(body).digest('base64url');
    return `${body}.${mac}`;
  }

  private unseal(sealed: string): unknown {
    const dot = sealed.lastIndexOf('.');
    if (dot <= 0) return null;
    const body = sealed.slice(0, dot);
    const mac = Buffer.from(sealed.slice(dot + 1), 'base64url');
    const want = createHmac('sha256', this.key).update(body).digest();
    if (mac.length !== want.length || !timingSafeEqual(mac, want)) return null;
    try {
      const { v, exp } = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
      return typeof exp === 'number' && exp > Date.now() ? v : null;
    } catch {
      return null;
    }
  }
}
