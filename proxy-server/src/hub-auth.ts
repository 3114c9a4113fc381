/**
 * Identity under JupyterHub: the proxy server is a hub-managed service.
 * - API tokens (`Authorization: token …`, or `?token=` on WebSockets) are resolved by the hub's
 *   `GET /user`, cached briefly.
 * - Browsers sign in with the hub's OAuth code flow; the result is kept in a cookie signed with a
 *   key derived from this service's own hub token, so no server-side store is needed.
 * Groups travel with the identity: the hub's user model carries them.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  parseCookies,
  sendJson,
  tokenFromHeader,
  tokenFromQuery,
  type Authenticator,
  type Caller
} from './auth.js';
import type { Logger } from './logging.js';

const SESSION_COOKIE = 'interlink-hub-session';
const STATE_COOKIE = 'interlink-oauth-state';
const SESSION_SECONDS = 8 * 3600;

interface HubUser {
  name: string;
  groups?: string[];
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
  logger: Logger;
}

export class HubAuthenticator implements Authenticator {
  private readonly cache = new Map<string, { user: HubUser | null; until: number }>();
  private readonly key: Buffer;

  constructor(private readonly options: HubAuthOptions) {
    this.key = createHash('sha256').update(`interlink-cookie:${options.apiToken}`).digest();
  }

  static fromEnvironment(logger: Logger): HubAuthenticator {
    const need = (name: string): string => {
      const value = process.env[name];
      if (!value) throw new Error(`running under JupyterHub but ${name} is not set`);
      return value;
    };
    const prefix = need('JUPYTERHUB_SERVICE_PREFIX');
    return new HubAuthenticator({
      apiUrl: need('JUPYTERHUB_API_URL').replace(/\/+$/, ''),
      apiToken: need('JUPYTERHUB_API_TOKEN'),
      clientId: need('JUPYTERHUB_CLIENT_ID'),
      callbackUrl: process.env.JUPYTERHUB_OAUTH_CALLBACK_URL ?? `${prefix}oauth_callback`,
      prefix: prefix.endsWith('/') ? prefix : `${prefix}/`,
      hubBase: process.env.JUPYTERHUB_BASE_URL ?? '/',
      logger
    });
  }

  get prefix(): string {
    return this.options.prefix;
  }

  async identify(req: IncomingMessage): Promise<Caller | null> {
    const header = tokenFromHeader(req);
    if (header !== null) return this.caller(await this.userForToken(header), 'header');
    const query = tokenFromQuery(req);
    if (query !== null) return this.caller(await this.userForToken(query), 'query');
    const cookie = parseCookies(req.headers.cookie).get(SESSION_COOKIE);
    return cookie ? this.caller(this.unseal(cookie), 'cookie') : null;
  }

  challenge(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return sendJson(res, 401, {
        error: 'unauthenticated',
        message: 'sign in to JupyterHub first'
      });
    }
    // A GET (the extension's first call, or a browser tab) goes through the hub's OAuth flow and
    // comes back here with the cookie; fetch follows these same-origin redirects by itself.
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
      location: `${authorize.pathname}${authorize.search}`,
      'set-cookie': `${STATE_COOKIE}=${encodeURIComponent(this.seal({ state, next }, 600))}; Path=${this.options.prefix}; HttpOnly; SameSite=Lax; Max-Age=600`,
      'cache-control': 'no-store'
    });
    res.end();
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== new URL(this.options.callbackUrl, 'http://x').pathname) return false;
    const saved = this.unseal(parseCookies(req.headers.cookie).get(STATE_COOKIE) ?? '') as {
      state: string;
      next: string;
    } | null;
    const code = url.searchParams.get('code');
    if (!saved || !code || saved.state !== url.searchParams.get('state')) {
      sendJson(res, 400, {
        error: 'oauth_state',
        message: 'sign-in expired or came from elsewhere; reload the page'
      });
      return true;
    }
    const tokenRes = await fetch(`${this.options.apiUrl}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        client_id: this.options.clientId,
        client_secret: this.options.apiToken,
        grant_type: 'authorization_code',
        code,
        redirect_uri: this.options.callbackUrl
      })
    });
    if (!tokenRes.ok) {
      this.options.logger.warn({ status: tokenRes.status }, 'hub refused the OAuth code');
      sendJson(res, 403, {
        error: 'oauth_failed',
        message: 'JupyterHub did not confirm the sign-in'
      });
      return true;
    }
    const { access_token: accessToken } = (await tokenRes.json()) as { access_token: string };
    const user = await this.fetchUser(accessToken);
    if (!user) {
      sendJson(res, 403, { error: 'oauth_failed', message: 'JupyterHub did not say who you are' });
      return true;
    }
    const next = saved.next.startsWith(this.options.prefix) ? saved.next : this.options.prefix;
    res.writeHead(302, {
      location: next,
      'set-cookie': [
        `${SESSION_COOKIE}=${encodeURIComponent(this.seal({ name: user.name, groups: user.groups ?? [] }, SESSION_SECONDS))}; Path=${this.options.prefix}; HttpOnly; SameSite=Lax; Max-Age=${SESSION_SECONDS}`,
        `${STATE_COOKIE}=; Path=${this.options.prefix}; Max-Age=0`
      ],
      'cache-control': 'no-store'
    });
    res.end();
    return true;
  }

  private caller(user: HubUser | null, via: Caller['via']): Caller | null {
    return user ? { name: user.name, groups: user.groups ?? [], via } : null;
  }

  private async userForToken(token: string): Promise<HubUser | null> {
    const key = createHash('sha256').update(token).digest('hex');
    const hit = this.cache.get(key);
    if (hit && hit.until > Date.now()) return hit.user;
    const user = await this.fetchUser(token);
    // Good answers for a minute, refusals for ten seconds: a revoked token stops working soon.
    this.cache.set(key, { user, until: Date.now() + (user ? 60_000 : 10_000) });
    if (this.cache.size > 10_000) this.cache.delete(this.cache.keys().next().value as string);
    return user;
  }

  private async fetchUser(token: string): Promise<HubUser | null> {
    try {
      const res = await fetch(`${this.options.apiUrl}/user`, {
        headers: { authorization: `token ${token}` }
      });
      if (!res.ok) return null;
      const body = (await res.json()) as { name?: string; groups?: string[]; kind?: string };
      return body.name && body.kind !== 'service'
        ? { name: body.name, groups: body.groups ?? [] }
        : null;
    } catch (err) {
      this.options.logger.warn({ err: (err as Error).message }, 'hub API unreachable');
      return null;
    }
  }

  private seal(value: object, seconds: number): string {
    const body = Buffer.from(
      JSON.stringify({ v: value, exp: Date.now() + seconds * 1000 })
    ).toString('base64url');
    const mac = createHmac('sha256', this.key).update(body).digest('base64url');
    return `${body}.${mac}`;
  }

  private unseal(sealed: string): HubUser | null {
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
