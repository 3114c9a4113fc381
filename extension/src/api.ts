import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { sessionPath } from '@jupyterlab-interlink/contract';
import type {
  CreateSessionRequest,
  ErrorBody,
  Session,
  Site,
  UsageSummary
} from '@jupyterlab-interlink/contract';

/** The proxy server's base path, relative to the origin, ending in `/`. */
export function apiBase(): string {
  let base = PageConfig.getOption('interlinkBaseUrl');
  if (!base) {
    base = PageConfig.getOption('hubPrefix') ? '/services/interlink/' : '/interlink/';
  }
  if (!base.startsWith('/')) {
    base = '/' + base;
  }
  return base.endsWith('/') ? base : base + '/';
}

/**
 * Where the browser reaches a session's remote server: under the base it reaches the service
 * at, which is not the service's own path when a single-user server fronts it (`session.url`).
 */
export function sessionUrl(session: Pick<Session, 'id'>, base: string = apiBase()): string {
  return sessionPath(base, session.id);
}

/** An API answer that was not 2xx, with the server's `{error, message, field?}` when it sent one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body?: ErrorBody
  ) {
    super(message);
  }
  get field(): string | undefined {
    return this.body?.field;
  }
}

/**
 * The proxy server's REST API. Standalone it takes the page's own token; under JupyterHub that
 * token belongs to the single-user server and stays there: the service knows the browser by the
 * cookie its OAuth sign-in sets, which fetch picks up by following the redirects.
 */
export class InterlinkApi {
  constructor(
    serverSettings: ServerConnection.ISettings,
    readonly base: string = apiBase()
  ) {
    // makeRequest only calls URLs under settings.baseUrl, and the service is not under
    // the single-user server's (/user/<name>/) behind a hub.
    this.serverSettings = ServerConnection.makeSettings({
      ...serverSettings,
      baseUrl: URLExt.join(window.location.origin, base),
      token: PageConfig.getOption('hubPrefix') ? '' : serverSettings.token
    });
  }

  readonly serverSettings: ServerConnection.ISettings;

  url(...parts: string[]): string {
    return URLExt.join(window.location.origin, this.base, ...parts);
  }

  async request(path: string, init: RequestInit = {}): Promise<Response> {
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(this.url(path), init, this.serverSettings);
    } catch (err) {
      throw new ApiError(0, `The interLink service cannot be reached: ${String(err)}`);
    }
    if (!response.ok) {
      let body: ErrorBody | undefined;
      let message = `${response.status} ${response.statusText}`;
      try {
        body = (await response.json()) as ErrorBody;
        if (body && typeof body.message === 'string') {
          message = body.message;
        }
      } catch {
        // not JSON: keep the status line
      }
      throw new ApiError(response.status, message, body);
    }
    return response;
  }

  async sites(): Promise<Site[]> {
    return (await this.request('api/sites')).json();
  }

  async sessions(): Promise<Session[]> {
    return (await this.request('api/sessions')).json();
  }

  async session(id: string): Promise<Session> {
    return (await this.request(`api/sessions/${encodeURIComponent(id)}`)).json();
  }

  async create(body: CreateSessionRequest): Promise<Session> {
    const response = await this.request('api/sessions', {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'Content-Type': 'application/json' }
    });
    return response.json();
  }

  async stop(id: string): Promise<void> {
    await this.request(`api/sessions/${encodeURIComponent(id)}`, { method: 'DELETE' });
  }

  /** The caller's usage this month, per site. */
  async usage(): Promise<UsageSummary> {
    return (await this.request('api/usage')).json();
  }

  /** "Keep running": resets an idle kernel session's clock on a site with an idle limit. */
  async keep(id: string): Promise<Session> {
    const response = await this.request(`api/sessions/${encodeURIComponent(id)}/keep`, {
      method: 'POST'
    });
    return response.json();
  }

  /** The caller's live events (`text/event-stream`, see eventstream.ts) until `signal` aborts. */
  async events(signal: AbortSignal): Promise<Response> {
    return this.request('api/events', {
      headers: { Accept: 'text/event-stream' },
      cache: 'no-store',
      signal
    });
  }

  /** The session's log as a stream of text chunks; it follows until `signal` aborts. */
  async logs(id: string, signal: AbortSignal, tail = 2000): Promise<Response> {
    return this.request(`api/sessions/${encodeURIComponent(id)}/logs?follow=1&tail=${tail}`, {
      signal,
      cache: 'no-store'
    });
  }

  /** Server settings for the remote Jupyter server of a session, through its tunnel. */
  remoteSettings(session: Session): ServerConnection.ISettings {
    const path = sessionUrl(session, this.base);
    const { protocol, host, origin } = window.location;
    return ServerConnection.makeSettings({
      baseUrl: origin + path,
      wsUrl: (protocol === 'https:' ? 'wss://' : 'ws://') + host + path,
      token: this.serverSettings.token,
      appendToken: true
    });
  }
}
