/**
 * Assembles a proxy server from its parts: sites → drivers → sessions, tunnel endpoint, auth, HTTP.
 * The CLI and the tests both start it through `startProxyServer`.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createDriver,
  validateSites,
  type Driver,
  type SiteConfig
} from '@jupyterlab-interlink/vk-bridge';
import { isFinalState } from '@jupyterlab-interlink/contract';
import type { Authenticator } from './auth.js';
import { createHostPolicy, hostOptionsFromEnvironment, type HostOptions } from './hosts.js';
import { createLogger, type Logger } from './logging.js';
import { createMetrics } from './metrics.js';
import { loadAdoptionKey } from './adoption-key.js';
import { createProxyHttpServer } from './server.js';
import { SessionManager } from './sessions.js';
import { TunnelEndpoint } from './tunnel/endpoint.js';
import { USAGE_PATH } from './tunnel/protocol.js';
import { UsageWatch } from './usage-watch.js';
import { BoundedSet } from './bounded-set.js';

export { TokenAuthenticator, type Authenticator, type Caller } from './auth.js';
export { SessionManager, ApiError } from './sessions.js';

export interface StartOptions {
  sites: SiteConfig[];
  auth: Authenticator;
  /** `/interlink` standalone; `/services/<name>` under JupyterHub. */
  basePath?: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** How agents reach this server, when not the address it listens on (e.g. wss://hub.example.org/services/interlink/tunnel). */
  tunnelUrl?: string;
  /** Standalone: the local Jupyter server to front. */
  upstream?: string;
  logger?: Logger;
  /** Drivers by site id, for tests that bring their own. */
  drivers?: Map<string, Driver>;
  agentEnv?: Record<string, string>;
  /**
   * Where drivers keep per-session files (logs, scripts, what re-adoption reads after a restart).
   * Default: a new temporary folder, so two servers on one machine never touch each other's sessions.
   */
  stateDir?: string;
  allowedOrigins?: string[];
  /** How often the agents of watched sessions are asked for their node's usage (default 5 s). */
  usageIntervalMs?: number;
  /** How often kernel sessions on sites with an idle limit are checked (default 30 s). */
  idleCheckMs?: number;
  /** Host names this server answers to besides loopback (DNS rebinding); default from the environment. */
  hosts?: HostOptions;
  /**
   * Where sessions of local sites start unless the site names a folder: standalone, JupyterLab's
   * root, so a kernel or a job on "this machine" sees the files the user sees.
   */
  workingDir?: string;
}

export interface RunningProxyServer {
  /** http://host:port */
  url: string;
  port: number;
  basePath: string;
  sessions: SessionManager;
  tunnels: TunnelEndpoint;
  server: Server;
  close(): Promise<void>;
}

/** The agent shipped in this package: what local and Slurm jobs on this machine run. */
export const AGENT_SCRIPT = fileURLToPath(new URL('./agent/cli.js', import.meta.url));

export async function startProxyServer(options: StartOptions): Promise<RunningProxyServer> {
  const logger = options.logger ?? createLogger();
  const basePath = (options.basePath ?? '/interlink').replace(/\/+$/, '');
  validateSites(options.sites);
  const stateDir = options.stateDir ?? (await mkdtemp(join(tmpdir(), 'interlink-proxy-')));
  const adoptionKey = await loadAdoptionKey(stateDir);
  const metrics = createMetrics();
  const drivers =
    options.drivers ??
    new Map(
      options.sites.map(site => [
        site.id,
        createDriver(site, { stateDir, local: { workingDir: options.workingDir } })
      ])
    );

  const host = options.host ?? '127.0.0.1';
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let port = 0;
  const sessions = new SessionManager({
    adoptionKey,
    // Called once running, when `tunnels` (declared below: it authorizes through the sessions) is.
    remote: (id, path): Promise<unknown> => tunnels.getJson(id, path),
    idleCheckMs: options.idleCheckMs,
    sites: options.sites,
    drivers,
    basePath,
    // Known once listening: the default tunnel URL carries the real port.
    tunnelUrl: () => options.tunnelUrl ?? `ws://${urlHost}:${port}${basePath}/tunnel`,
    // Jobs on this machine run the agent shipped here, unless the site names another.
    agentCommand: site =>
      site.agentCommand ??
      (site.driver === 'local' || site.driver === 'slurm'
        ? [process.execPath, AGENT_SCRIPT]
        : ['interlink-agent']),
    agentEnv: options.agentEnv,
    logger
  });
  const tunnels = new TunnelEndpoint({
    authorize: (id, secret) => sessions.authorizeAgent(id, secret),
    logger,
    registry: metrics.registry
  });
  const usage = new UsageWatch({
    sites: options.sites,
    stateDir,
    sessionsOf: owner => sessions.list(owner),
    ask: id => tunnels.getJson(id, USAGE_PATH),
    intervalMs: options.usageIntervalMs
  });
  // Each ended session's share of the month, once.
  const recorded = new BoundedSet<string>(10_000);
  sessions.on('changed', session => {
    if (!isFinalState(session.state) || recorded.has(session.id)) return;
    recorded.add(session.id);
    usage.ended(session).catch(err => logger.warn({ err }, 'usage record not written'));
  });
  const hostOptions = options.hosts ?? hostOptionsFromEnvironment();
  const wildcard = host === '0.0.0.0' || host === '::' || host === '';
  const trustedRemoteUi = new Set(
    options.sites.filter(site => site.remoteUi === 'trusted').map(site => site.id)
  );
  const server = createProxyHttpServer({
    basePath,
    usage,
    auth: options.auth,
    sessions,
    tunnels,
    metrics,
    logger,
    upstream: options.upstream,
    allowedOrigins: options.allowedOrigins,
    // Browsers may also come by the name agents are told, and by the address listened on.
    hosts: createHostPolicy({
      ...hostOptions,
      hostnames: [
        ...(hostOptions.hostnames ?? []),
        ...(options.tunnelUrl ? [options.tunnelUrl] : []),
        ...(wildcard ? [] : [host])
      ]
    }),
    trustedRemoteUi: site => trustedRemoteUi.has(site)
  });
  sessions.onEnded = id => tunnels.revoke(id);
  tunnels.on('up', id => sessions.onTunnel(id, true));
  tunnels.on('down', id => sessions.onTunnel(id, false));
  tunnels.on('agent', (id, holder, replaced) => sessions.onAgent(id, holder, replaced));
  // Re-adopt before listening: after a restart, an agent that redials at once must find its
  // session (a refused secret counts towards the agent giving up), and a user their list.
  await sessions.start();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  const url = `http://${urlHost}:${port}`;
  logger.info(
    { url: `${url}${basePath}/`, sites: options.sites.map(s => s.id) },
    'proxy server listening'
  );

  return {
    url,
    port,
    basePath,
    sessions,
    tunnels,
    server,
    async close() {
      // Agents' tunnels are upgraded sockets the HTTP server still counts: close() would wait
      // for them forever, so they are closed (1001, agents redial) before waiting on it.
      const closed = new Promise<void>(resolve => server.close(() => resolve()));
      server.closeAllConnections?.();
      usage.close();
      await tunnels.close();
      await closed;
      await sessions.close();
    }
  };
}
