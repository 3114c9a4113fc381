/**
 * interLink's real API server for tests, built and run by scripts/interlink-stack.sh (from the Go
 * module proxy, cached between runs). A test that uses it fails, never skips, when it cannot be
 * built.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect, createServer as createNetServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const STACK_SCRIPT = fileURLToPath(
  new URL('../../../scripts/interlink-stack.sh', import.meta.url)
);

export interface InterlinkApiOptions {
  /** where its config, data and (by default) socket go */
  dir: string;
  /** the plugin: unix:///path or http://127.0.0.1:PORT */
  plugin: string;
  /** https://127.0.0.1:PORT instead of the Unix socket dir/api.sock */
  listen?: string;
  tls?: { certFile: string; keyFile: string; clientCaFile?: string };
}

/** Builds a part of the stack if the cache lacks it; minutes on a cold machine. */
export async function stackBin(part: 'interlink' | 'kubernetes'): Promise<string> {
  const { stdout } = await promisify(execFile)('bash', [STACK_SCRIPT, 'bin', part], {
    maxBuffer: 16 << 20
  });
  return stdout.trim();
}

export class InterlinkApi {
  private proc?: ChildProcess;
  output = '';

  private constructor(readonly options: InterlinkApiOptions) {}

  static async start(options: InterlinkApiOptions): Promise<InterlinkApi> {
    await stackBin('interlink');
    const api = new InterlinkApi(options);
    await api.restart();
    return api;
  }

  /** The URL the drivers are given. */
  get url(): string {
    return this.options.listen ?? `unix://${this.options.dir}/api.sock`;
  }

  async restart(): Promise<void> {
    await this.stop();
    const o = this.options;
    const env: NodeJS.ProcessEnv = { ...process.env, INTERLINK_PLUGIN: o.plugin };
    if (o.listen) env.INTERLINK_LISTEN = o.listen;
    if (o.tls) {
      env.INTERLINK_TLS_CERT = o.tls.certFile;
      env.INTERLINK_TLS_KEY = o.tls.keyFile;
      if (o.tls.clientCaFile) env.INTERLINK_CLIENT_CA = o.tls.clientCaFile;
    }
    const proc = spawn('bash', [STACK_SCRIPT, 'run-api', o.dir], {
      env,
      stdio: ['ignore', 'pipe', 'pipe']
    });
    this.proc = proc;
    const keep = (b: Buffer) => {
      this.output = (this.output + b.toString()).slice(-20000);
    };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    const deadline = Date.now() + 20000;
    while (!(await this.answers())) {
      if (proc.exitCode !== null)
        throw new Error(`interLink's API server exited (${proc.exitCode}):\n${this.output}`);
      if (Date.now() > deadline)
        throw new Error(`interLink's API server did not listen within 20 s:\n${this.output}`);
      await new Promise(r => setTimeout(r, 100));
    }
  }

  private answers(): Promise<boolean> {
    const url = this.url;
    return new Promise(resolve => {
      const sock = url.startsWith('unix://')
        ? existsSync(url.slice(7))
          ? connect(url.slice(7))
          : undefined
        : connect(Number(new URL(url).port), '127.0.0.1');
      if (!sock) return resolve(false);
      sock.once('connect', () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
    });
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise(r => proc.once('exit', r));
    proc.kill('SIGTERM');
    await exited;
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createNetServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * etcd, kube-apiserver and kube-scheduler (scripts/interlink-stack.sh start-kubernetes), and
 * interLink's virtual kubelet registering `node` there, talking to `api`.
 */
export class KubernetesStack {
  private vk?: ChildProcess;
  output = '';

  private constructor(
    readonly dir: string,
    readonly node: string,
    readonly kubePort: number
  ) {}

  get kubeconfig(): string {
    return `${this.dir}/kubeconfig`;
  }

  static async start(dir: string, node: string, api: InterlinkApi): Promise<KubernetesStack> {
    await stackBin('kubernetes');
    const kubePort = await freePort();
    const env = {
      ...process.env,
      KUBE_PORT: String(kubePort),
      ETCD_PORT: String(await freePort()),
      SCHEDULER_PORT: String(await freePort())
    };
    const stack = new KubernetesStack(dir, node, kubePort);
    try {
      await promisify(execFile)('bash', [STACK_SCRIPT, 'start-kubernetes', dir], { env });
    } catch (err) {
      await stack.stop();
      throw err;
    }
    const vk = spawn('bash', [STACK_SCRIPT, 'run-vk', dir, node], {
      env: { ...env, INTERLINK_URL: api.url, KUBELET_PORT: String(await freePort()) },
      stdio: ['ignore', 'pipe', 'pipe']
    });
    stack.vk = vk;
    const keep = (b: Buffer) => {
      stack.output = (stack.output + b.toString()).slice(-20000);
    };
    vk.stdout!.on('data', keep);
    vk.stderr!.on('data', keep);
    return stack;
  }

  async stop(): Promise<void> {
    const vk = this.vk;
    this.vk = undefined;
    if (vk && vk.exitCode === null && vk.signalCode === null) {
      const exited = new Promise(r => vk.once('exit', r));
      vk.kill('SIGTERM');
      await exited;
    }
    await promisify(execFile)('bash', [STACK_SCRIPT, 'stop', this.dir]);
  }
}
