/**
 * A real JupyterHub 6 (from PyPI, in the project's virtualenv) for tests, on 127.0.0.1 with free
 * ports: the dummy authenticator (one password for everyone), the simple local spawner running the
 * stock `jupyterhub-singleuser` of that virtualenv, configurable-http-proxy from npm, and this
 * proxy server as the hub-managed service declared by `configure_interlink`
 * (jupyterlab_interlink/hub.py), exactly as an administrator's jupyterhub_config.py would. An
 * `operator` service holds an admin token for creating users' API tokens.
 *
 * Also a command for the Playwright tests:
 *   node proxy-server/dist/testing/jupyterhub.js
 * prints one JSON line ({url, password, dir}) once the hub and the service answer, passes the
 * hub's log to stderr, and stops the hub when its stdin closes or on SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultLocalSite } from '@jupyterlab-interlink/vk-bridge';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const CHP = join(REPO, 'node_modules', 'configurable-http-proxy', 'bin', 'configurable-http-proxy');
/** The virtualenv holding JupyterHub (and, for single-user servers, JupyterLab with this wheel). */
const VENV = process.env.INTERLINK_VENV ?? join(REPO, '.venv');
const VENV_BIN = join(VENV, 'bin');

export interface HubOptions {
  /** Sites handed to configure_interlink (default: the embedded local site). */
  sites?: unknown[];
  /** Users the hub knows from the start. */
  users?: string[];
  /** Hub groups, name → members. */
  groups?: Record<string, string[]>;
  /**
   * What startHub waits for: the hub and the service answering (default), or nothing, for a
   * configuration the hub must refuse (see `exited`).
   */
  wait?: 'service' | 'none';
  /**
   * Serve every user, and the service, on an origin of its own: `c.JupyterHub.subdomain_host`
   * on `hub.localhost` (browsers resolve every `*.localhost` name to loopback by themselves).
   */
  subdomains?: boolean;
  /** Bound on each start-up wait. */
  timeoutMs?: number;
  /** Called with everything the hub, its proxy and the service write. */
  onOutput?: (text: string) => void;
}

export interface RunningHub {
  /**
   * http://127.0.0.1:PORT, the hub's public address (configurable-http-proxy); with
   * `subdomains`, http://hub.localhost:PORT, for browsers only.
   */
  url: string;
  /** /services/interlink */
  base: string;
  /** The hub's REST API on its own port (http://127.0.0.1:PORT/hub/api), for Node callers. */
  api: string;
  password: string;
  /** A token of the `operator` service (admin scopes). */
  adminToken: string;
  dir: string;
  hub: ChildProcess;
  /** The hub's exit code once it exits (null if a signal ended it). */
  exited: Promise<number | null>;
  /** Everything the hub, its proxy and the service wrote so far. */
  output(): string;
  /** A new API token of `user`: the user's own permissions, or only `scopes`. */
  userToken(user: string, scopes?: string[]): Promise<string>;
  stop(): Promise<void>;
}

/** Why a hub cannot start here, or null: a missing install is a failure to report, not a skip. */
function missingParts(): string | null {
  if (!existsSync(join(VENV_BIN, 'jupyterhub'))) {
    return `JupyterHub is not installed in ${VENV} : run scripts/python-env.sh (INTERLINK_VENV names another)`;
  }
  if (!existsSync(CHP)) return `configurable-http-proxy is not installed (${CHP}): run npm ci`;
  return null;
}

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolvePort(port));
    });
  });
}

const py = (value: unknown) => JSON.stringify(JSON.stringify(value));

export async function startHub(options: HubOptions = {}): Promise<RunningHub> {
  const missing = missingParts();
  if (missing) throw new Error(missing);
  const timeoutMs = options.timeoutMs ?? 60_000;
  const dir = await mkdtemp(join(tmpdir(), 'interlink-hub-'));
  await mkdir(join(dir, 'home'));
  const [port, hubPort, proxyApiPort, servicePort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort()
  ];
  const password = `pw-${randomBytes(6).toString('hex')}`;
  const adminToken = randomBytes(24).toString('hex');
  const users = options.users ?? ['alice', 'bob'];
  // The hub's test users are no Unix accounts: their jobs share the test's, as the site says.
  const sites = options.sites ?? [{ ...defaultLocalSite(), runAs: { shared: true } }];
  const groups = Object.fromEntries(
    Object.entries(options.groups ?? {}).map(([name, members]) => [name, { users: members }])
  );
  // Values cross into Python as JSON strings parsed there: no quoting to get wrong.
  const config = `import json
from jupyterlab_interlink.hub import configure_interlink

c.JupyterHub.ip = '127.0.0.1'
c.JupyterHub.port = ${port}
c.JupyterHub.hub_ip = '127.0.0.1'
c.JupyterHub.hub_port = ${hubPort}
${options.subdomains ? `c.JupyterHub.subdomain_host = 'http://hub.localhost:${port}'` : ''}
c.JupyterHub.db_url = 'sqlite:///' + json.loads(${py(join(dir, 'jupyterhub.sqlite'))})
c.JupyterHub.cookie_secret_file = json.loads(${py(join(dir, 'cookie_secret'))})
c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:${proxyApiPort}'
c.ConfigurableHTTPProxy.command = json.loads(${py([process.execPath, CHP])})
c.ConfigurableHTTPProxy.auth_token = json.loads(${py(randomBytes(24).toString('hex'))})
c.ConfigurableHTTPProxy.pid_file = json.loads(${py(join(dir, 'proxy.pid'))})
c.JupyterHub.authenticator_class = 'dummy'
c.DummyAuthenticator.password = json.loads(${py(password)})
c.Authenticator.allowed_users = set(json.loads(${py(users)}))
c.JupyterHub.spawner_class = 'simple'
c.SimpleLocalProcessSpawner.home_dir_template = json.loads(${py(join(dir, 'home', '{username}'))})
# The stock single-user server, found on PATH like in an activated virtualenv; root here.
# expose_app_in_browser: the browser tests drive JupyterLab through window.jupyterapp.
c.Spawner.args = ['--allow-root', '--LabApp.expose_app_in_browser=True']
c.Spawner.start_timeout = 60
c.Spawner.http_timeout = 60
c.JupyterHub.load_groups = json.loads(${py(groups)})
c.JupyterHub.services = [{'name': 'operator', 'api_token': json.loads(${py(adminToken)})}]
c.JupyterHub.load_roles = [{
    'name': 'operator',
    'scopes': ['admin:users', 'admin:servers', 'admin:groups', 'tokens', 'read:roles', 'shares'],
    'services': ['operator'],
}]
configure_interlink(
    c,
    sites=json.loads(${py(sites)}),
    port=${servicePort},
    node=json.loads(${py(process.execPath)}),
    environment={
        'INTERLINK_LOG_LEVEL': 'info',
        # Its own folder: the local driver stops what it finds in its folder at start.
        'INTERLINK_STATE_DIR': json.loads(${py(join(dir, 'state'))}),
    },
)
`;
  await writeFile(join(dir, 'jupyterhub_config.py'), config);

  let output = '';
  const hub = spawn(join(VENV_BIN, 'jupyterhub'), ['-f', join(dir, 'jupyterhub_config.py')], {
    cwd: dir,
    // Its own process group: stop() can take down whatever the hub leaves behind.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    // The hub, its service and the single-user servers come from the virtualenv with the wheel.
    env: { ...process.env, PATH: [VENV_BIN, process.env.PATH].filter(Boolean).join(':') }
  });
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    options.onOutput?.(chunk.toString());
    if (output.length > 4_000_000) output = output.slice(-2_000_000);
  };
  hub.stdout?.on('data', collect);
  hub.stderr?.on('data', collect);
  const exited = new Promise<number | null>(r => hub.once('exit', code => r(code)));

  const url = `http://${options.subdomains ? 'hub.localhost' : '127.0.0.1'}:${port}`;
  const running: RunningHub = {
    url,
    base: '/services/interlink',
    api: `http://127.0.0.1:${hubPort}/hub/api`,
    password,
    adminToken,
    dir,
    hub,
    exited,
    output: () => output,
    async userToken(user, scopes) {
      const res = await fetch(`${running.api}/users/${user}/tokens`, {
        method: 'POST',
        headers: { authorization: `token ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ note: 'interlink tests', expires_in: 3600, scopes })
      });
      if (res.status !== 201) {
        throw new Error(`token for ${user}: ${res.status} ${await res.text()}`);
      }
      return ((await res.json()) as { token: string }).token;
    },
    async stop() {
      if (hub.exitCode === null && hub.signalCode === null) {
        // The hub stops its single-user servers, its managed services and its proxy.
        hub.kill('SIGTERM');
        await Promise.race([exited, new Promise(r => setTimeout(r, 20_000).unref())]);
      }
      try {
        process.kill(-hub.pid!, 'SIGKILL');
      } catch {
        // group already gone
      }
      // The hub starts its proxy in a session of its own and leaves it running when it exits
      // on a failed start.
      const proxyPid = Number(await readFile(join(dir, 'proxy.pid'), 'utf8').catch(() => ''));
      if (proxyPid > 0) {
        try {
          process.kill(proxyPid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
  };

  if (options.wait === 'none') return running;
  try {
    // Through the hub's proxy, as browsers come (the service's route added), under the names
    // browsers use: Node does not resolve `*.localhost`, so the name goes in the Host header.
    const publicHost = (name: string) => (options.subdomains ? `${name}:${port}` : undefined);
    await waitFor(
      `http://127.0.0.1:${port}/hub/health`,
      publicHost('hub.localhost'),
      () => hub.exitCode === null,
      timeoutMs,
      () => output
    );
    await waitFor(
      `http://127.0.0.1:${port}/services/interlink/healthz`,
      publicHost('interlink--service.hub.localhost'),
      () => hub.exitCode === null,
      timeoutMs,
      () => output
    );
  } catch (err) {
    await running.stop();
    throw err;
  }
  return running;
}

async function waitFor(
  target: string,
  host: string | undefined,
  alive: () => boolean,
  timeoutMs: number,
  output: () => string
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive()) throw new Error(`JupyterHub exited:\n${output().slice(-4000)}`);
    if (await answersOk(target, host)) return;
    await new Promise(r => setTimeout(r, 250));
  }
  throw new Error(
    `${target} (Host ${host ?? 'as in the URL'}) did not answer within ${timeoutMs / 1000} s:\n${output().slice(-4000)}`
  );
}

/** A GET of `target` (with `host` as its Host header) answers 2xx within 2 s. */
function answersOk(target: string, host: string | undefined): Promise<boolean> {
  return new Promise(resolveOk => {
    const req = httpGet(target, { headers: host ? { host } : {}, timeout: 2_000 }, res => {
      res.resume();
      resolveOk((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolveOk(false));
  });
}

// As a command: a hub for the Playwright tests, alice in the "physics" group; `--subdomains`
// serves each user on an origin of its own.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const hub = await startHub({
    groups: { physics: ['alice'] },
    subdomains: process.argv.includes('--subdomains'),
    onOutput: text => process.stderr.write(text)
  });
  process.stdout.write(
    JSON.stringify({
      url: hub.url,
      password: hub.password,
      dir: hub.dir,
      api: hub.api,
      adminToken: hub.adminToken
    }) + '\n'
  );
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await hub.stop();
    process.exit(0);
  };
  process.stdin.on('end', () => void stop());
  process.stdin.on('close', () => void stop());
  process.stdin.resume();
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}
