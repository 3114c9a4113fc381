import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { constants as osConstants, tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';

// Tornado leaves Nagle's algorithm on for kernel WebSockets, so each small reply waits ~40 ms for
// a delayed ACK (see the performance notes). This config turns it off when a kernel channel opens,
// for jupyter_server 1.x (ZMQChannelsHandler) and 2.x (KernelWebsocketHandler) alike.
const NODELAY_CONFIG = `# Written by the interlink agent: TCP_NODELAY on kernel WebSockets.
def _interlink_nodelay(cls):
    original = cls.open

    def open(self, *args, **kwargs):
        try:
            self.set_nodelay(True)
        except Exception:
            pass
        return original(self, *args, **kwargs)

    cls.open = open


try:
    from jupyter_server.services.kernels.handlers import ZMQChannelsHandler
    _interlink_nodelay(ZMQChannelsHandler)
except ImportError:
    pass
try:
    from jupyter_server.services.kernels.websocket import KernelWebsocketHandler
    _interlink_nodelay(KernelWebsocketHandler)
except ImportError:
    pass
`;

export interface JupyterOptions {
  /** argv of the server, e.g. ["/usr/bin/python3", "-m", "jupyter_server"]. */
  command: string[];
  /** base_url, starting and ending with "/". */
  baseUrl: string;
  notebookDir: string;
  /** Lines of the server's own output, with its token already redacted. */
  onOutput?: (line: string) => void;
  /** Environment for the server; secrets of the agent must already be removed. */
  env?: NodeJS.ProcessEnv;
  /** TCP_NODELAY on kernel WebSockets (default true; false gives a stock server, for comparison). */
  nodelay?: boolean;
  /** Loopback TCP even on jupyter_server 2.x (for comparison with its Unix socket). */
  tcp?: boolean;
  /** Ports the session declared for its own apps: the server never takes one of them. */
  avoidPorts?: readonly number[];
  /**
   * The Python that kernels run in (the session's environment). Its own `python3` kernel spec
   * goes first on JUPYTER_PATH, so a system-wide spec naming another Python cannot win.
   */
  kernelPython?: string;
}

/** Where the server listens: a Unix socket (jupyter_server 2.x) or loopback TCP (1.x). */
export type Endpoint = { socketPath: string } | { host: string; port: number };

export interface JupyterServer {
  endpoint: Endpoint;
  /** The server's major version, from `--version`. */
  major: number;
  token: string;
  baseUrl: string;
  child: ChildProcess;
  /** Resolves with the exit code (or 128+signal) when the server process exits. */
  exited: Promise<number>;
  /** Resolves when `GET {base}api/status` answers 200; rejects if the server exits first. */
  waitReady(timeoutMs: number): Promise<void>;
  /** SIGTERM to the server's process group (it shuts its kernels down), SIGKILL after a grace period. */
  stop(graceMs?: number): Promise<number>;
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * The server's major version (`<command> --version`), or 0 when it does not say within 15 s (a
 * command that starts serving instead of answering is taken as an older server: loopback TCP).
 */
export function serverMajorVersion(command: string[], env?: NodeJS.ProcessEnv): Promise<number> {
  const [cmd, ...args] = command;
  return new Promise(resolve => {
    execFile(cmd, [...args, '--version'], { env, timeout: 15_000 }, (err, stdout) => {
      const match = /^(\d+)\.\d+/m.exec(String(stdout));
      resolve(err || !match ? 0 : Number(match[1]));
    });
  });
}

/** A free loopback port that is none of the session's declared ports. */
async function freePortAvoiding(avoid: readonly number[] = []): Promise<number> {
  let port = await freePort('127.0.0.1');
  while (avoid.includes(port)) port = await freePort('127.0.0.1');
  return port;
}

// sun_path holds 108 bytes on Linux; a longer TMPDIR falls back to TCP.
const MAX_SOCKET_PATH = 100;

export async function startJupyter(options: JupyterOptions): Promise<JupyterServer> {
  const token = randomBytes(24).toString('hex');
  // Private to this user (mkdtemp makes it 0700): it holds the config and the server's socket.
  const configDir = mkdtempSync(path.join(tmpdir(), 'interlink-agent-'));
  const configFile = path.join(configDir, 'interlink_nodelay_config.py');
  writeFileSync(configFile, NODELAY_CONFIG, { mode: 0o600 });

  // jupyter_server 2.x serves on a Unix socket: no port to race for, and no other user of the
  // node can connect. 1.x keeps loopback TCP.
  const major = await serverMajorVersion(options.command, options.env);
  const socketPath = path.join(configDir, 'jupyter.sock');
  const endpoint: Endpoint =
    major >= 2 && !options.tcp && socketPath.length <= MAX_SOCKET_PATH
      ? { socketPath }
      : { host: '127.0.0.1', port: await freePortAvoiding(options.avoidPorts) };
  const listen =
    'socketPath' in endpoint
      ? [`--ServerApp.sock=${endpoint.socketPath}`, '--ServerApp.sock_mode=0600']
      : [
          `--ServerApp.ip=${endpoint.host}`,
          `--ServerApp.port=${endpoint.port}`,
          '--ServerApp.port_retries=0'
        ];

  const env: NodeJS.ProcessEnv = { ...(options.env ?? process.env) };
  if (options.kernelPython) {
    const data = path.join(configDir, 'data');
    const spec = path.join(data, 'kernels', 'python3');
    mkdirSync(spec, { recursive: true });
    writeFileSync(
      path.join(spec, 'kernel.json'),
      JSON.stringify({
        argv: [options.kernelPython, '-m', 'ipykernel_launcher', '-f', '{connection_file}'],
        display_name: 'Python 3 (ipykernel)',
        language: 'python',
        metadata: { debugger: true }
      })
    );
    env.JUPYTER_PATH = [data, env.JUPYTER_PATH].filter(Boolean).join(path.delimiter);
  }

  const [cmd, ...args] = options.command;
  const child = spawn(
    cmd,
    [
      ...args,
      ...listen,
      `--ServerApp.base_url=${options.baseUrl}`,
      `--ServerApp.root_dir=${options.notebookDir}`,
      ...(options.nodelay === false ? [] : [`--config=${configFile}`]),
      '--allow-root',
      '--no-browser'
    ],
    {
      // The token goes in the environment, not argv: argv is visible to every user of the node.
      env: { ...env, JUPYTER_TOKEN: token },
      cwd: options.notebookDir,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Own process group, so stopping reaches the server and anything it spawned in its group.
      detached: true
    }
  );

  const redact = (line: string): string =>
    line
      .split(token)
      .join('[redacted]')
      .replace(/token=[^\s&"']+/g, 'token=[redacted]');
  for (const out of [child.stdout, child.stderr]) {
    if (!out) continue;
    createInterface({ input: out }).on('line', line => options.onOutput?.(redact(line)));
  }

  let exitCode: number | undefined;
  const exited = new Promise<number>(resolve => {
    const done = (code: number): void => {
      exitCode = code;
      rmSync(configDir, { recursive: true, force: true });
      resolve(code);
    };
    child.once('error', () => done(127));
    child.once('exit', (code, signal) => {
      done(code ?? 128 + (signal ? (osConstants.signals[signal] ?? 0) : 0));
    });
  });

  const statusPath = `${options.baseUrl}api/status`;
  const probe = (): Promise<boolean> =>
    new Promise(resolve => {
      const req = http.get(
        {
          ...endpoint,
          path: statusPath,
          headers: { Authorization: `token ${token}` },
          timeout: 2_000
        },
        res => {
          res.resume();
          resolve(res.statusCode === 200);
        }
      );
      req.once('timeout', () => req.destroy());
      req.once('error', () => resolve(false));
    });

  const waitReady = async (timeoutMs: number): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (exitCode !== undefined) {
        throw new Error(`the Jupyter server exited (code ${exitCode}) before it was ready`);
      }
      if (await probe()) return;
      await new Promise(r => setTimeout(r, 200));
    }
    throw new Error(`the Jupyter server did not answer within ${Math.round(timeoutMs / 1000)}s`);
  };

  const stop = async (graceMs = 10_000): Promise<number> => {
    if (exitCode !== undefined) return exitCode;
    const signalGroup = (signal: NodeJS.Signals): void => {
      try {
        if (child.pid) process.kill(-child.pid, signal);
      } catch {
        // Already gone.
      }
    };
    signalGroup('SIGTERM');
    const timer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };

  return { endpoint, major, token, baseUrl: options.baseUrl, child, exited, waitReady, stop };
}
