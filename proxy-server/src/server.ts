/**
 * The proxy server's HTTP surface, in one place:
 *   {base}/api/…            REST API of the extension (sites, sessions, logs, events)
 *   {base}/sessions/{id}/…  the session's remote Jupyter server, HTTP and WebSocket, owner only
 *   {base}/sessions/{id}/ports/{port}/…  a web app on a port the launch declared (ports-route.ts)
 *   {base}/sessions/{id}/files-write/…  a raw write into the session's files (files-write-route.ts)
 *   {base}/tunnel           where agents in remote jobs dial in
 *   {base}/metrics, /healthz
 *   anything else           standalone only: the local Jupyter server behind this front door
 * Every route but /healthz checks who calls; WebSocket upgrades exactly like requests.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createProxyServer } from 'http-proxy-3';
import {
  SESSION_ID_SOURCE,
  type NodeUsage,
  type ServerEvent,
  type Session
} from '@jupyterlab-interlink/contract';
import type { Authenticator, Caller } from './auth.js';
import { sendJson } from './json-reply.js';
import { ApiError, type SessionManager } from './sessions.js';
import { recordSessionStates, type ServerMetrics } from './metrics.js';
import type { Logger } from './logging.js';
import type { TunnelEndpoint } from './tunnel/endpoint.js';
import { createHostPolicy, type HostPolicy } from './hosts.js';
import { QUERY_TOKEN_REFUSED, queryTokenAccepted } from './query-token.js';
import { guardRemoteResponse, isServiceWorkerScript } from './response-policy.js';
import { routeName } from './route-names.js';
import { portRedirect, portRefusal } from './ports-route.js';
import { filesWriteRoute } from './files-write-route.js';
import type { UsageWatch } from './usage-watch.js';

export interface ProxyServerOptions {
  basePath: string;
  auth: Authenticator;
  sessions: SessionManager;
  tunnels: TunnelEndpoint;
  metrics: ServerMetrics;
  logger: Logger;
  /** Standalone: the local Jupyter server this server fronts, e.g. http://127.0.0.1:41234. */
  upstream?: string;
  /** Origins allowed to open WebSockets besides the request's own host. */
  allowedOrigins?: string[];
  /** The Host names answered and how Origin is compared (default: loopback names only). */
  hosts?: HostPolicy;
  /** Sites whose remote server's own UI runs unsandboxed (response-policy.ts). */
  trustedRemoteUi?: (siteId: string) => boolean;
  /** Usage pushed to watching owners and summed per month (index.ts makes it). */
  usage?: UsageWatch;
}

const MAX_BODY = 64 * 1024;
const SESSION_PATH = new RegExp(`^/sessions/(${SESSION_ID_SOURCE})(/.*)?$`);

export function createProxyHttpServer(options: ProxyServerOptions): Server {
  const { basePath, auth, sessions, tunnels, metrics, logger } = options;
  const hosts = options.hosts ?? createHostPolicy();
  const sameOrigin = (req: IncomingMessage) => hosts.sameOrigin(req, options.allowedOrigins);
  const upstreamProxy = options.upstream
    ? createProxyServer({ target: options.upstream, ws: true, xfwd: true })
    : undefined;
  upstreamProxy?.on('error', (err, _req, res) => {
    logger.warn({ err: err.message }, 'front door: upstream Jupyter server unreachable');
    if (res && 'writeHead' in res && !res.headersSent) {
      sendJson(res, 502, {
        error: 'upstream_unavailable',
        message: 'the local Jupyter server does not answer'
      });
    } else {
      (res as Duplex | undefined)?.destroy();
    }
  });
  // A valid ?token= on any page becomes our cookie too, so the extension's EventSource-style
  // requests and the browser's WebSockets to {base} are recognised without the token in the URL.
  upstreamProxy?.on('proxyRes', (proxyRes, req) => {
    const cookie = auth.cookieFor?.(req);
    if (!cookie) return;
    const existing = proxyRes.headers['set-cookie'] ?? [];
    proxyRes.headers['set-cookie'] = [...existing, cookie];
  });

  const refuse = (route: string, why: string) => metrics.refused.inc({ route, why });

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (path !== `${basePath}/healthz`) {
      const wrongHost = hosts.refusal(req);
      if (wrongHost) {
        refuse(
          path.startsWith(`${basePath}/`) ? routeName(path.slice(basePath.length)) : 'other',
          'host_not_allowed'
        );
        return sendJson(res, 403, wrongHost);
      }
    }
    if (path !== basePath && !path.startsWith(`${basePath}/`)) {
      if (upstreamProxy) return void upstreamProxy.web(req, res);
      return sendJson(res, 404, { error: 'not_found', message: `nothing at ${path}` });
    }
    const rest = path.slice(basePath.length) || '/';
    if (rest === '/healthz') return sendJson(res, 200, { status: 'ok' });
    if (auth.handle && (await auth.handle(req, res))) return;

    const caller = await auth.identify(req);
    if (!caller) {
      refuse(routeName(rest), 'unauthenticated');
      return auth.challenge(req, res);
    }
    if (caller.via === 'query' && !queryTokenAccepted(req, rest)) {
      refuse(routeName(rest), 'token_in_url');
      return sendJson(res, 401, QUERY_TOKEN_REFUSED);
    }
    if (caller.via === 'cookie' && !isSafeMethod(req.method) && !sameOrigin(req)) {
      refuse(routeName(rest), 'cross_origin');
      return sendJson(res, 403, {
        error: 'cross_origin',
        message: 'state-changing requests signed in by cookie must come from this origin'
      });
    }

    const session = SESSION_PATH.exec(rest);
    if (session) return proxySession(caller, session[1], path, req, res);
    if (rest === '/metrics') {
      recordSessionStates(
        metrics,
        sessions.counts(),
        sessions.listSites().map(s => s.id)
      );
      res.writeHead(200, { 'content-type': metrics.registry.contentType });
      return void res.end(await metrics.registry.metrics());
    }
    if (rest.startsWith('/api/')) return api(caller, rest.slice(4), url, req, res);
    sendJson(res, 404, { error: 'not_found', message: `nothing at ${path}` });
  }

  async function api(
    caller: Caller,
    route: string,
    url: URL,
    req: IncomingMessage,
    res: ServerResponse
  ): Promise<void> {
    const method = req.method ?? 'GET';
    let m: RegExpExecArray | null;
    if (route === '/sites' && method === 'GET') return sendJson(res, 200, sessions.listSites());
    if (route === '/sessions' && method === 'GET')
      return sendJson(res, 200, sessions.list(caller.name));
    if (route === '/sessions' && method === 'POST') {
      const body = await readJson(req);
      try {
        const created = await sessions.create(caller, body);
        metrics.launches.inc({
          site: created.site,
          outcome: created.state === 'failed' ? 'backend_error' : 'created'
        });
        return sendJson(res, 201, created);
      } catch (err) {
        const site =
          typeof (body as { site?: unknown })?.site === 'string'
            ? String((body as { site: string }).site)
            : '';
        metrics.launches.inc({
          site: sessions.listSites().some(s => s.id === site) ? site : 'unknown',
          outcome: 'rejected'
        });
        throw err;
      }
    }
    if (route === '/events' && method === 'GET') return events(caller, req, res);
    if (route === '/usage' && method === 'GET' && options.usage) {
      return sendJson(res, 200, await options.usage.summary(caller.name));
    }
    if ((m = /^\/sessions\/([^/]+)$/.exec(route))) {
      if (method === 'GET') return sendJson(res, 200, sessions.get(caller, m[1]));
      if (method === 'DELETE') return sendJson(res, 200, await sessions.stop(caller, m[1]));
    }
    if ((m = /^\/sessions\/([^/]+)\/keep$/.exec(route)) && method === 'POST') {
      return sendJson(res, 200, sessions.keep(caller, m[1]));
    }
    if ((m = /^\/sessions\/([^/]+)\/logs$/.exec(route)) && method === 'GET') {
      const follow = ['1', 'true', 'yes'].includes(url.searchParams.get('follow') ?? '');
      const tailText = url.searchParams.get('tail');
      const tail = tailText === null ? undefined : Number(tailText);
      if (tail !== undefined && !(Number.isInteger(tail) && tail >= 0)) {
        throw new ApiError(400, {
          error: 'invalid_field',
          field: 'tail',
          message: 'tail: a whole number of lines, 0 or more'
        });
      }
      const abort = new AbortController();
      res.on('close', () => abort.abort());
      const stream = await sessions.logs(caller, m[1], { follow, tail, signal: abort.signal });
      res.writeHead(200, {
        'content-type': 'text/plain; charset=utf-8',
        'cache-control': 'no-store',
        // Lets a reverse proxy in front (nginx) pass a followed log through unbuffered.
        'x-accel-buffering': 'no'
      });
      res.flushHeaders();
      await pipeline(stream, res).catch(() => undefined);
      return;
    }
    sendJson(res, 404, { error: 'not_found', message: `no API route ${method} ${route}` });
  }

  /** Server-Sent Events: a snapshot of the caller's sessions and the sites, then every change. */
  function events(caller: Caller, req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
      connection: 'keep-alive'
    });
    req.socket.setNoDelay(true);
    const send = (event: ServerEvent) => {
      const data =
        event.type === 'session'
          ? event.session
          : event.type === 'sites'
            ? event.sites
            : event.type === 'usage'
              ? { id: event.id, usage: event.usage }
              : { id: event.id };
      res.write(`event: ${event.type}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    send({ type: 'sites', sites: sessions.listSites() });
    for (const session of sessions.list(caller.name)) send({ type: 'session', session });
    const onChanged = (session: Session) => {
      if (session.owner === caller.name) send({ type: 'session', session });
    };
    const onRemoved = (id: string, owner: string) => {
      if (owner === caller.name) send({ type: 'session-removed', id });
    };
    const onHealth = () => send({ type: 'sites', sites: sessions.listSites() });
    // Its agents are asked while someone of this user listens, and only then.
    const unwatch = options.usage?.watch(caller.name);
    const onUsage = (owner: string, id: string, usage: NodeUsage) => {
      if (owner === caller.name) send({ type: 'usage', id, usage });
    };
    options.usage?.on('usage', onUsage);
    sessions.on('changed', onChanged);
    sessions.on('removed', onRemoved);
    sessions.on('health', onHealth);
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 25_000);
    res.on('close', () => {
      clearInterval(heartbeat);
      sessions.off('changed', onChanged);
      sessions.off('removed', onRemoved);
      sessions.off('health', onHealth);
      unwatch?.();
      options.usage?.off('usage', onUsage);
    });
  }

  function proxySession(
    caller: Caller,
    id: string,
    path: string,
    req: IncomingMessage,
    res: ServerResponse
  ): void {
    const owner = sessions.owns(caller, id);
    if (owner === 'none')
      return sendJson(res, 404, { error: 'not_found', message: `no session "${id}"` });
    if (owner === 'other') {
      refuse('sessions', 'not_owner');
      return sendJson(res, 403, {
        error: 'forbidden',
        message: 'this session belongs to another user'
      });
    }
    if (isServiceWorkerScript(req)) {
      refuse('sessions', 'service_worker');
      return sendJson(res, 403, {
        error: 'forbidden',
        message: 'a remote server cannot install a service worker on this origin'
      });
    }
    const remote = sessions.get(caller, id);
    const port = portRefusal(remote, path);
    if (port) {
      refuse('sessions', 'port_not_declared');
      return sendJson(res, port.status, port.body);
    }
    const slash = portRedirect(remote, path);
    if (slash) {
      res.writeHead(301, {
        location: slash + (req.url?.includes('?') ? req.url.slice(req.url.indexOf('?')) : '')
      });
      return void res.end();
    }
    // A page load signed in by ?token= keeps the cookie, so the token need not stay in URLs.
    const cookie = caller.via === 'query' ? auth.cookieFor?.(req) : null;
    if (cookie) res.setHeader('set-cookie', cookie);
    // A port's app gets the same policy as the remote Jupyter server's pages.
    guardRemoteResponse(res, { trusted: options.trustedRemoteUi?.(remote.site) });
    if (!tunnels.isUp(id)) {
      const state = sessions.state(id);
      return sendJson(res, 503, {
        error: 'not_ready',
        message: `session ${id} is ${state}; its Jupyter server is not reachable yet`
      });
    }
    const write = filesWriteRoute(remote, path, req);
    if (write && 'refusal' in write) {
      res.setHeader('allow', 'PUT');
      return sendJson(res, 405, write.refusal);
    }
    tunnels.proxyRequest(id, req, res, write?.agentPath);
  }

  async function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    // Agents prove themselves with their session's secret, whatever name they dial.
    if (path !== `${basePath}/tunnel` && hosts.refusal(req)) {
      refuse(routeName(path.slice(basePath.length)), 'host_not_allowed');
      return rejectUpgrade(socket, 403, 'Forbidden');
    }
    if (path !== basePath && !path.startsWith(`${basePath}/`)) {
      if (upstreamProxy) return void upstreamProxy.ws(req, socket, head);
      return rejectUpgrade(socket, 404, 'Not Found');
    }
    const rest = path.slice(basePath.length);
    if (rest === '/tunnel') return tunnels.handleUpgrade(req, socket, head);
    const session = SESSION_PATH.exec(rest);
    if (!session) return rejectUpgrade(socket, 404, 'Not Found');
    const id = session[1];
    if (!sameOrigin(req)) {
      refuse('sessions_ws', 'cross_origin');
      return rejectUpgrade(socket, 403, 'Forbidden');
    }
    const caller = await auth.identify(req);
    if (!caller) {
      refuse('sessions_ws', 'unauthenticated');
      return rejectUpgrade(socket, 401, 'Unauthorized');
    }
    const owner = sessions.owns(caller, id);
    if (owner !== 'own') {
      refuse('sessions_ws', owner === 'other' ? 'not_owner' : 'unknown_session');
      return rejectUpgrade(
        socket,
        owner === 'other' ? 403 : 404,
        owner === 'other' ? 'Forbidden' : 'Not Found'
      );
    }
    const port = portRefusal(sessions.get(caller, id), path);
    if (port) {
      refuse('sessions_ws', 'port_not_declared');
      return rejectUpgrade(socket, port.status, 'Not Found', port.body);
    }
    if (!tunnels.isUp(id)) return rejectUpgrade(socket, 503, 'Service Unavailable');
    tunnels.proxyUpgrade(id, req, socket, head);
  }

  const server = createServer({ maxHeaderSize: 32 * 1024 }, (req, res) => {
    onRequest(req, res).catch(err => {
      if (err instanceof ApiError) {
        if (!res.headersSent) return sendJson(res, err.status, err.body);
      } else {
        logger.error({ err, url: req.url?.split('?')[0] }, 'request failed');
        if (!res.headersSent) {
          return sendJson(res, 500, {
            error: 'internal',
            message: 'the proxy server failed; see its log'
          });
        }
      }
      res.destroy();
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    onUpgrade(req, socket, head).catch(err => {
      logger.error({ err }, 'upgrade failed');
      socket.destroy();
    });
  });
  return server;
}

function isSafeMethod(method = 'GET'): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS';
}

function rejectUpgrade(socket: Duplex, status: number, text: string, body?: object): void {
  const json = body ? JSON.stringify(body) : '';
  const type = body ? 'Content-Type: application/json; charset=utf-8\r\n' : '';
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\n${type}Content-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`
  );
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(type)) {
    throw new ApiError(415, {
      error: 'unsupported_media_type',
      message: 'send the request body as application/json'
    });
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) {
      throw new ApiError(413, {
        error: 'too_large',
        message: `request body above ${MAX_BODY} bytes`
      });
    }
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new ApiError(400, {
      error: 'invalid_json',
      message: `request body is not JSON: ${(err as Error).message}`
    });
  }
}
