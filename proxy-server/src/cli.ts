#!/usr/bin/env node
/**
 * interlink-proxy: the proxy server.
 *
 * Standalone it runs behind jupyter_server (jupyterlab_interlink's server extension starts it on a
 * private port): jupyter_server authenticates users and forwards {base}=/interlink here with the
 * one secret this process trusts, read from INTERLINK_TOKEN_FILE (0600) or INTERLINK_TOKEN —
 * never from the command line, where every user of the machine could read it.
 * Under JupyterHub (JUPYTERHUB_API_TOKEN set, as for every hub-managed service): {base} is the
 * service prefix and identities come from the hub.
 */
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  defaultLocalSite,
  loadSitesFile,
  parseSites,
  sharedAccountProblem,
  type SiteConfig
} from '@jupyterlab-interlink/vk-bridge';
import { TokenAuthenticator, type Authenticator } from './auth.js';
import { HubAuthenticator } from './hub-auth.js';
import { acceptHandedConnections } from './handoff.js';
import { createLogger } from './logging.js';
import { startProxyServer } from './index.js';
import { readTokenFile } from './token-file.js';

const HELP = `Usage: interlink-proxy [options]

  --port N          port to listen on (default 8888; 0 = any free port; also INTERLINK_PORT)
  --host ADDR       address to listen on (default 127.0.0.1; also INTERLINK_HOST)
  --base-path P     where the API is served (default /interlink; also INTERLINK_BASE_PATH)
  --sites FILE      YAML file declaring the sites (also INTERLINK_SITES; or the sites as JSON
                    in INTERLINK_SITES_JSON; default: the embedded "local" site)
  --tunnel-url URL  how agents in remote jobs reach this server (wss://…/tunnel)
  --notebook-dir D  JupyterLab's root folder, where sessions of local sites start unless their
                    site names a workingDir (default: the current folder; also INTERLINK_NOTEBOOK_DIR)
  --state-dir D     where drivers keep per-session files, and what a restart re-adopts sessions
                    from (also INTERLINK_STATE_DIR; default: a new temporary folder per run)
  -h, --help        this text

Standalone the secret callers present (Authorization: token …) is read from the file named by
INTERLINK_TOKEN_FILE, or from INTERLINK_TOKEN.
`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: process.env.INTERLINK_PORT ?? '8888' },
      host: { type: 'string', default: process.env.INTERLINK_HOST ?? '127.0.0.1' },
      'base-path': { type: 'string', default: process.env.INTERLINK_BASE_PATH ?? '/interlink' },
      sites: { type: 'string', default: process.env.INTERLINK_SITES },
      'tunnel-url': { type: 'string', default: process.env.INTERLINK_PUBLIC_TUNNEL_URL },
      'notebook-dir': {
        type: 'string',
        default: process.env.INTERLINK_NOTEBOOK_DIR ?? process.cwd()
      },
      'state-dir': { type: 'string', default: process.env.INTERLINK_STATE_DIR },
      help: { type: 'boolean', short: 'h', default: false }
    }
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const logger = createLogger();
  const sites = await loadSites(values.sites);
  const hub = process.env.JUPYTERHUB_API_TOKEN !== undefined;

  let auth: Authenticator;
  let basePath = (values['base-path'] as string).replace(/\/+$/, '');
  let port = Number(values.port);
  let host = values.host as string;

  if (hub) {
    // Several hub users' jobs under one account could read each other's secrets: refuse such a
    // site unless its admin said so (runAs.shared).
    const shared = sites.map(sharedAccountProblem).filter(Boolean);
    if (shared.length) throw new Error(shared.join('\n'));
    const hubAuth = HubAuthenticator.fromEnvironment(logger);
    auth = hubAuth;
    basePath = hubAuth.prefix.replace(/\/+$/, '');
    const listen = new URL(process.env.JUPYTERHUB_SERVICE_URL ?? `http://127.0.0.1:${port}`);
    port = Number(listen.port);
    host = listen.hostname;
  } else {
    auth = new TokenAuthenticator(
      standaloneSecret(),
      process.env.JUPYTERHUB_USER ?? userInfo().username
    );
  }

  const running = await startProxyServer({
    sites,
    auth,
    basePath,
    host,
    port,
    tunnelUrl: values['tunnel-url'],
    stateDir: values['state-dir'],
    // Standalone, "this machine" shares JupyterLab's files: kernels and jobs start in its root.
    workingDir: hub ? undefined : resolve(values['notebook-dir'] as string),
    logger
  });
  // Standalone, jupyter_server hands authenticated WebSocket upgrades over as sockets.
  if (!hub) acceptHandedConnections(running.server);

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down');
    await running.close().catch(err => logger.error({ err }, 'close failed'));
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

/** The secret jupyter_server's front door sends: a 0600 file's content, or INTERLINK_TOKEN. */
function standaloneSecret(): string {
  const file = process.env.INTERLINK_TOKEN_FILE;
  const secret = file ? readTokenFile(file) : process.env.INTERLINK_TOKEN;
  if (!secret) {
    throw new Error(
      'no secret to trust: set INTERLINK_TOKEN_FILE (a file readable only by you) or INTERLINK_TOKEN. ' +
        'Standalone, `jupyter lab` with jupyterlab-interlink installed starts this service itself.'
    );
  }
  return secret;
}

/** --sites FILE / INTERLINK_SITES, else INTERLINK_SITES_JSON (what the hub helper sets), else the embedded site. */
async function loadSites(file: string | undefined): Promise<SiteConfig[]> {
  if (file) return loadSitesFile(file);
  const json = process.env.INTERLINK_SITES_JSON;
  if (json === undefined || json.trim() === '') return [defaultLocalSite()];
  let document: unknown;
  try {
    document = JSON.parse(json);
  } catch (err) {
    throw new Error(`INTERLINK_SITES_JSON: not valid JSON: ${(err as Error).message}`);
  }
  return parseSites(document, 'INTERLINK_SITES_JSON');
}

main().catch(err => {
  process.stderr.write(`interlink-proxy: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
