#!/usr/bin/env node
/**
 * interlink-proxy: the proxy server.
 *
 * Standalone (default): one front door on one port — JupyterLab (started here, on a private port)
 * plus {base}=/interlink; prints the URL to open, with its token.
 * Under JupyterHub (JUPYTERHUB_API_TOKEN set, as for every hub-managed service): {base} is the
 * service prefix and identities come from the hub.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  defaultLocalSite,
  loadSitesFile,
  parseSites,
  type SiteConfig
} from '@jupyterlab-interlink/vk-bridge';
import { TokenAuthenticator, type Authenticator } from './auth.js';
import { HubAuthenticator } from './hub-auth.js';
import { createLogger } from './logging.js';
import { startProxyServer } from './index.js';
import { readTokenFile } from './token-file.js';

const HELP = `Usage: interlink-proxy [options]

  --port N          port of the front door (default 8888; 0 = any free port)
  --host ADDR       address to listen on (default 127.0.0.1)
  --sites FILE      YAML file declaring the sites (also INTERLINK_SITES; or the sites as JSON
                    in INTERLINK_SITES_JSON; default: the embedded "local" site)
  --token TOKEN     standalone token (default: random; also INTERLINK_TOKEN); on a command
                    line every local user sees it: prefer INTERLINK_TOKEN or --token-file
  --token-file F    read the standalone token from F, a file only you may read (chmod 600;
                    also INTERLINK_TOKEN_FILE)
  --no-lab          do not start JupyterLab (API, tunnel and reverse proxy only)
  --upstream URL    front an already running Jupyter server instead of starting one
  --tunnel-url URL  how agents in remote jobs reach this server (wss://…/tunnel)
  --notebook-dir D  JupyterLab's root folder, where sessions of local sites start unless their
                    site names a workingDir (default: the current folder)
  --state-dir D     where drivers keep per-session files, and what a restart re-adopts sessions
                    from (also INTERLINK_STATE_DIR; default: a new temporary folder per run)
  -h, --help        this text
`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: process.env.INTERLINK_PORT ?? '8888' },
      host: { type: 'string', default: process.env.INTERLINK_HOST ?? '127.0.0.1' },
      sites: { type: 'string', default: process.env.INTERLINK_SITES },
      token: { type: 'string', default: process.env.INTERLINK_TOKEN },
      'token-file': { type: 'string', default: process.env.INTERLINK_TOKEN_FILE },
      'no-lab': { type: 'boolean', default: false },
      upstream: { type: 'string' },
      'tunnel-url': { type: 'string', default: process.env.INTERLINK_PUBLIC_TUNNEL_URL },
      'notebook-dir': { type: 'string', default: process.cwd() },
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
  let basePath = '/interlink';
  let port = Number(values.port);
  let host = values.host as string;
  let lab: ChildProcess | undefined;
  let upstream = values.upstream;
  const tokenFile = values['token-file'];
  const token =
    values.token ??
    (tokenFile ? readTokenFile(tokenFile) : undefined) ??
    randomBytes(24).toString('hex');

  if (hub) {
    const hubAuth = HubAuthenticator.fromEnvironment(logger);
    auth = hubAuth;
    basePath = hubAuth.prefix.replace(/\/+$/, '');
    const listen = new URL(process.env.JUPYTERHUB_SERVICE_URL ?? `http://127.0.0.1:${port}`);
    port = Number(listen.port);
    host = listen.hostname;
  } else {
    auth = new TokenAuthenticator(token, process.env.JUPYTERHUB_USER ?? userInfo().username);
    if (!values['no-lab'] && !upstream) {
      const labPort = await freePort();
      lab = startLab(labPort, token, basePath, values['notebook-dir'] as string);
      upstream = `http://127.0.0.1:${labPort}`;
      await waitForHttp(`${upstream}/api/status?token=${token}`, lab, 60_000);
    }
  }

  const running = await startProxyServer({
    sites,
    auth,
    basePath,
    host,
    port,
    upstream,
    tunnelUrl: values['tunnel-url'],
    stateDir: values['state-dir'],
    // Standalone, "this machine" shares JupyterLab's files: kernels and jobs start in its root.
    workingDir: hub ? undefined : resolve(values['notebook-dir'] as string),
    logger
  });
  if (!hub) {
    // The API takes no token in its URL (query-token.ts): scripts send it as a header.
    process.stdout.write(
      values['no-lab'] && !upstream
        ? `\n    jupyterlab-interlink is running: curl -H 'Authorization: token ${token}' ${running.url}${basePath}/api/sites\n\n`
        : `\n    jupyterlab-interlink is running: ${running.url}/lab?token=${token}\n\n`
    );
  }

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down');
    lab?.kill('SIGTERM');
    await running.close().catch(err => logger.error({ err }, 'close failed'));
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  lab?.on('exit', code => {
    if (!closing) {
      logger.error({ code }, 'JupyterLab exited');
      void shutdown('lab-exit');
    }
  });
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

/** JupyterLab (the launcher in the Python package, on Debian's jupyter_server) on a private port. */
function startLab(
  port: number,
  token: string,
  basePath: string,
  notebookDir: string
): ChildProcess {
  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const python = process.env.INTERLINK_PYTHON ?? '/usr/bin/python3';
  return spawn(
    python,
    [
      '-m',
      'jupyterlab_interlink.launcher',
      '--ip=127.0.0.1',
      `--port=${port}`,
      '--no-browser',
      `--ServerApp.token=${token}`,
      `--ServerApp.root_dir=${notebookDir}`,
      ...(process.getuid?.() === 0 ? ['--allow-root'] : [])
    ],
    {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: {
        ...process.env,
        PYTHONPATH: [repoRoot, process.env.PYTHONPATH].filter(Boolean).join(':'),
        INTERLINK_BASE_URL: `${basePath}/`
      }
    }
  );
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolvePort(port));
    });
  });
}

async function waitForHttp(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`JupyterLab exited with code ${child.exitCode}`);
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise(r => setTimeout(r, 200));
  }
  throw new Error(`JupyterLab did not answer at ${url.split('?')[0]} within ${timeoutMs / 1000} s`);
}

main().catch(err => {
  process.stderr.write(`interlink-proxy: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
