/**
 * The embedded default: runs a pod's containers as processes on this machine. Init containers
 * first, in order; Secret/ConfigMap volumes become files in a per-session directory; one log file
 * per session; activeDeadlineSeconds enforced; a stopped session leaves no process behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { closeSync, existsSync, openSync, statSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { constants as osConstants, hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import type {
  V1ConfigMap,
  V1Container,
  V1KeyToPath,
  V1Secret,
  V1Volume
} from '@kubernetes/client-node';
import type { SiteHealth } from '@jupyterlab-interlink/contract';
import { DriverError, sessionIdOf } from '../errors.js';
import { fileLogStream } from '../logfile.js';
import { findProcesses, terminateAll } from '../procs.js';
import type {
  BackendStatus,
  Driver,
  DriverEvents,
  LogOptions,
  ObservedPod,
  PodBundle,
  SiteConfig
} from '../types.js';

export interface LocalDriverOptions {
  /** Where per-session directories live; default `<tmp>/interlink-local/<site id>`. */
  stateDir?: string;
  /** SIGTERM → SIGKILL grace, ms (default 3000). */
  killGraceMs?: number;
  /** Server environment variables passed to containers (never the server's own secrets). */
  inheritEnv?: string[];
  /** Working directory for containers that name none (or whose own does not exist). */
  workingDir?: string;
  /** Overrides the site's `local.isolation`. */
  isolation?: 'none' | 'bubblewrap';
}

const DEFAULT_INHERIT = [
  'PATH',
  'HOME',
  'LANG',
  'LC_ALL',
  'LC_CTYPE',
  'TZ',
  'TMPDIR',
  'USER',
  'LOGNAME',
  'SHELL'
];
/** Every process of a session carries this in its environment; found again even when reparented. */
export const LOCAL_TAG_ENV = 'INTERLINK_LOCAL_TAG';

const FINAL = new Set(['succeeded', 'failed', 'gone']);

interface Mount {
  mountPath: string;
  local: string;
}

interface LocalSession {
  id: string;
  bundle: PodBundle;
  dir: string;
  logPath: string;
  tag: string;
  roots: number[];
  status: BackendStatus;
  volumes: Map<string, string>;
  deadline?: NodeJS.Timeout;
  expired: boolean;
  deleted: boolean;
  run?: Promise<void>;
}

function findBwrap(): string | null {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const p = join(dir || '.', 'bwrap');
    if (existsSync(p)) return p;
  }
  return null;
}

function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const n = signal ? osConstants.signals[signal] : undefined;
  return 128 + (n ?? 0);
}

/** `$(VAR)` in command and args, as Kubernetes expands it; `$$(` stays literal. */
function expand(text: string, env: Record<string, string>): string {
  return text.replace(/\$\$\(|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name?: string) =>
    name === undefined ? '$(' : (env[name] ?? m)
  );
}

/** A path inside a mountPath becomes the same path inside the materialised directory. */
function rewrite(value: string, mounts: Mount[]): string {
  for (const m of mounts) {
    if (value === m.mountPath) return m.local;
    if (value.startsWith(m.mountPath + '/')) return m.local + value.slice(m.mountPath.length);
  }
  return value;
}

export class LocalDriver extends EventEmitter<DriverEvents> implements Driver {
  readonly kind = 'local' as const;
  private readonly sessions = new Map<string, LocalSession>();
  private readonly stateDir: string;
  private readonly graceMs: number;
  private readonly isolation: 'none' | 'bubblewrap';
  private readonly bwrap: string | null;
  private closed = false;

  constructor(
    readonly site: SiteConfig,
    private readonly options: LocalDriverOptions = {}
  ) {
    super();
    this.stateDir = options.stateDir ?? join(tmpdir(), 'interlink-local', site.id);
    this.graceMs = options.killGraceMs ?? 3000;
    this.isolation = options.isolation ?? site.local?.isolation ?? 'none';
    this.bwrap = this.isolation === 'bubblewrap' ? findBwrap() : null;
  }

  /**
   * Processes outlive no server: whatever a previous run left (after a crash) is stopped and its
   * files, secrets included, removed. Nothing is re-adopted.
   */
  async start(): Promise<ObservedPod[]> {
    await mkdir(this.stateDir, { recursive: true, mode: 0o700 });
    for (const name of await readdir(this.stateDir)) {
      if (this.sessions.has(name)) continue;
      const dir = join(this.stateDir, name);
      try {
        const state = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as {
          tag: string;
          roots: number[];
        };
        await terminateAll(state, this.graceMs);
      } catch {
        // no state: nothing was started from it
      }
      await rm(dir, { recursive: true, force: true });
    }
    return [];
  }

  async create(bundle: PodBundle): Promise<{ backendId: string }> {
    if (this.closed) throw new DriverError('Unavailable', 'driver is closed');
    if (this.isolation === 'bubblewrap' && !this.bwrap) {
      throw new DriverError(
        'Unavailable',
        `site "${this.site.id}" asks for bubblewrap isolation but bwrap is not installed`
      );
    }
    const id = sessionIdOf(bundle.pod);
    const existing = this.sessions.get(id);
    if (existing && existing.status.phase !== 'gone') {
      throw new DriverError('AlreadyExists', `session ${id} already exists`);
    }
    const dir = join(this.stateDir, id);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const s: LocalSession = {
      id,
      bundle,
      dir,
      logPath: join(dir, 'log'),
      tag: `${LOCAL_TAG_ENV}=${randomBytes(12).toString('hex')}`,
      roots: [],
      status: { phase: 'pending', backendId: bundle.pod.metadata?.name },
      volumes: new Map(),
      expired: false,
      deleted: false
    };
    await writeFile(s.logPath, '', { mode: 0o600 });
    try {
      await this.materialise(s);
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    await this.saveState(s);
    this.sessions.set(id, s);
    this.emit('update', id, { ...s.status });
    s.run = this.run(s).catch(err => {
      return this.finish(s, {
        phase: 'failed',
        reason: `local executor: ${(err as Error).message}`
      });
    });
    return { backendId: s.status.backendId ?? id };
  }

  async delete(sessionId: string): Promise<void> {
    const s = this.sessions.get(sessionId);
    if (!s || s.status.phase === 'gone') return;
    s.deleted = true;
    if (s.deadline) clearTimeout(s.deadline);
    await terminateAll(s, this.graceMs);
    await s.run;
    await rm(join(s.dir, 'volumes'), { recursive: true, force: true });
    this.setStatus(s, { ...s.status, phase: 'gone' });
  }

  async logs(sessionId: string, options: LogOptions = {}): Promise<Readable> {
    const s = this.sessions.get(sessionId);
    if (!s) throw new DriverError('NotFound', `no session ${sessionId} on site ${this.site.id}`);
    return fileLogStream(s.logPath, {
      tail: options.tail,
      follow: options.follow,
      signal: options.signal,
      isDone: () => FINAL.has(s.status.phase)
    });
  }

  async health(): Promise<SiteHealth> {
    const checkedAt = new Date().toISOString();
    if (this.isolation === 'bubblewrap' && !this.bwrap) {
      return {
        status: 'down',
        message: 'bubblewrap isolation requested but bwrap is not installed',
        checkedAt
      };
    }
    return { status: 'ok', checkedAt };
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.sessions.keys()].map(id => this.delete(id)));
    await rm(this.stateDir, { recursive: true, force: true });
    this.sessions.clear();
  }

  /** For tests and diagnostics: the live processes of a session. */
  processes(sessionId: string): number[] {
    const s = this.sessions.get(sessionId);
    return s ? findProcesses(s).map(p => p.pid) : [];
  }

  private async saveState(s: LocalSession): Promise<void> {
    await writeFile(join(s.dir, 'state.json'), JSON.stringify({ tag: s.tag, roots: s.roots }), {
      mode: 0o600
    });
  }

  private setStatus(s: LocalSession, status: BackendStatus): void {
    if (JSON.stringify(status) === JSON.stringify(s.status)) return;
    s.status = status;
    this.emit('update', s.id, { ...status });
  }

  /** The final word on a session, once; `gone` (deletion) only from delete(). Secrets go first. */
  private async finish(s: LocalSession, status: BackendStatus): Promise<void> {
    if (s.deadline) clearTimeout(s.deadline);
    if (FINAL.has(s.status.phase) || s.deleted) return;
    await rm(join(s.dir, 'volumes'), { recursive: true, force: true });
    if (FINAL.has(s.status.phase) || s.deleted) return;
    this.setStatus(s, { ...s.status, ...status });
  }

  private async materialise(s: LocalSession): Promise<void> {
    const { bundle } = s;
    for (const v of bundle.pod.spec?.volumes ?? []) {
      const dir = join(s.dir, 'volumes', v.name);
      s.volumes.set(v.name, v.hostPath ? v.hostPath.path : dir);
      if (v.hostPath) continue;
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await this.fillVolume(v, dir, bundle);
    }
  }

  private async fillVolume(v: V1Volume, dir: string, bundle: PodBundle): Promise<void> {
    const write = async (
      data: Record<string, Buffer>,
      items: V1KeyToPath[] | undefined,
      mode: number
    ) => {
      const chosen: V1KeyToPath[] = items ?? Object.keys(data).map(key => ({ key, path: key }));
      for (const item of chosen) {
        const value = data[item.key];
        if (value === undefined) continue;
        const file = join(dir, item.path);
        if (!file.startsWith(dir + '/'))
          throw new DriverError(
            'Invalid',
            `volume ${v.name}: path ${item.path} escapes the volume`
          );
        await mkdir(dirname(file), { recursive: true, mode: 0o700 });
        await writeFile(file, value, { mode: item.mode ?? mode });
        await chmod(file, item.mode ?? mode);
      }
    };
    const secretData = (name: string, optional?: boolean) => {
      const sec = bundle.secrets.find((x: V1Secret) => x.metadata?.name === name);
      if (!sec && !optional)
        throw new DriverError('Invalid', `volume ${v.name}: secret ${name} is not part of the pod`);
      const out: Record<string, Buffer> = {};
      for (const [k, b64] of Object.entries(sec?.data ?? {})) out[k] = Buffer.from(b64, 'base64');
      for (const [k, text] of Object.entries(sec?.stringData ?? {})) out[k] = Buffer.from(text);
      return out;
    };
    const configMapData = (name: string, optional?: boolean) => {
      const cm = bundle.configMaps.find((x: V1ConfigMap) => x.metadata?.name === name);
      if (!cm && !optional)
        throw new DriverError(
          'Invalid',
          `volume ${v.name}: config map ${name} is not part of the pod`
        );
      const out: Record<string, Buffer> = {};
      for (const [k, text] of Object.entries(cm?.data ?? {})) out[k] = Buffer.from(text);
      for (const [k, b64] of Object.entries(cm?.binaryData ?? {}))
        out[k] = Buffer.from(b64, 'base64');
      return out;
    };
    if (v.secret) {
      await write(
        secretData(v.secret.secretName ?? '', v.secret.optional),
        v.secret.items,
        v.secret.defaultMode ?? 0o644
      );
    } else if (v.configMap) {
      await write(
        configMapData(v.configMap.name ?? '', v.configMap.optional),
        v.configMap.items,
        v.configMap.defaultMode ?? 0o644
      );
    } else if (v.projected) {
      for (const src of v.projected.sources ?? []) {
        const mode = v.projected.defaultMode ?? 0o644;
        if (src.secret)
          await write(
            secretData(src.secret.name ?? '', src.secret.optional),
            src.secret.items,
            mode
          );
        if (src.configMap)
          await write(
            configMapData(src.configMap.name ?? '', src.configMap.optional),
            src.configMap.items,
            mode
          );
      }
    } else if (!v.emptyDir) {
      throw new DriverError(
        'Invalid',
        `volume ${v.name}: only secret, configMap, projected, emptyDir and hostPath volumes run locally`
      );
    }
  }

  private mountsOf(s: LocalSession, c: V1Container): Mount[] {
    return (c.volumeMounts ?? [])
      .map(m => {
        const base = s.volumes.get(m.name);
        if (!base)
          throw new DriverError('Invalid', `container ${c.name} mounts unknown volume ${m.name}`);
        return {
          mountPath: m.mountPath.replace(/\/+$/, ''),
          local: m.subPath ? join(base, m.subPath) : base
        };
      })
      .sort((a, b) => b.mountPath.length - a.mountPath.length);
  }

  private envOf(s: LocalSession, c: V1Container, mounts: Mount[]): Record<string, string> {
    const { bundle } = s;
    const env: Record<string, string> = {};
    for (const name of this.options.inheritEnv ?? DEFAULT_INHERIT) {
      const v = process.env[name];
      if (v !== undefined) env[name] = v;
    }
    const secretValue = (name: string, key: string) => {
      const sec = bundle.secrets.find(x => x.metadata?.name === name);
      const b64 = sec?.data?.[key];
      return b64 !== undefined
        ? Buffer.from(b64, 'base64').toString('utf8')
        : sec?.stringData?.[key];
    };
    const cmValue = (name: string, key: string) =>
      bundle.configMaps.find(x => x.metadata?.name === name)?.data?.[key];
    for (const from of c.envFrom ?? []) {
      const prefix = from.prefix ?? '';
      if (from.secretRef) {
        const sec = bundle.secrets.find(x => x.metadata?.name === from.secretRef!.name);
        for (const k of Object.keys({ ...sec?.data, ...sec?.stringData }))
          env[prefix + k] = secretValue(from.secretRef.name!, k) ?? '';
      }
      if (from.configMapRef) {
        const cm = bundle.configMaps.find(x => x.metadata?.name === from.configMapRef!.name);
        for (const [k, v] of Object.entries(cm?.data ?? {})) env[prefix + k] = v;
      }
    }
    const md = bundle.pod.metadata ?? {};
    for (const e of c.env ?? []) {
      let value = e.value !== undefined ? expand(e.value, env) : undefined;
      const ref = e.valueFrom;
      if (ref?.secretKeyRef) value = secretValue(ref.secretKeyRef.name ?? '', ref.secretKeyRef.key);
      else if (ref?.configMapKeyRef)
        value = cmValue(ref.configMapKeyRef.name ?? '', ref.configMapKeyRef.key);
      else if (ref?.fieldRef) {
        const fields: Record<string, string | undefined> = {
          'metadata.name': md.name,
          'metadata.namespace': md.namespace ?? 'default',
          'metadata.uid': md.uid,
          'spec.nodeName': hostname(),
          'status.podIP': '127.0.0.1',
          'status.hostIP': '127.0.0.1'
        };
        value = fields[ref.fieldRef.fieldPath];
      }
      env[e.name] = rewrite(value ?? '', mounts);
    }
    const [k, v] = s.tag.split('=');
    env[k] = v;
    return env;
  }

  private cwdOf(s: LocalSession, c: V1Container, mounts: Mount[]): string {
    if (c.workingDir) {
      const wd = rewrite(c.workingDir, mounts);
      try {
        if (statSync(wd).isDirectory()) return wd;
      } catch {
        // falls back below
      }
    }
    const fallback = this.options.workingDir ?? this.site.local?.workingDir;
    if (fallback && existsSync(fallback)) return fallback;
    return join(s.dir, 'work');
  }

  /** Starts one container; resolves with its exit code (127 when it could not start). */
  private async startContainer(
    s: LocalSession,
    c: V1Container
  ): Promise<{ pid?: number; exit: Promise<number> }> {
    const mounts = this.mountsOf(s, c);
    const env = this.envOf(s, c, mounts);
    const argv = [...(c.command ?? []), ...(c.args ?? [])].map(a =>
      rewrite(expand(a, env), mounts)
    );
    const cwd = this.cwdOf(s, c, mounts);
    await mkdir(cwd, { recursive: true });
    const logFd = openSync(s.logPath, 'a');
    const note = async (text: string) => writeFile(s.logPath, text + '\n', { flag: 'a' });
    if (argv.length === 0) {
      closeSync(logFd);
      await note(`container ${c.name}: no command (the local executor runs commands, not images)`);
      return { exit: Promise.resolve(127) };
    }
    let file = argv[0];
    let args = argv.slice(1);
    if (this.isolation === 'bubblewrap' && this.bwrap) {
      // read-only host, private /tmp, /proc and pid namespace; the session's files stay writable
      args = [
        '--ro-bind',
        '/',
        '/',
        '--dev',
        '/dev',
        '--proc',
        '/proc',
        '--tmpfs',
        '/tmp',
        '--bind',
        s.dir,
        s.dir,
        ...(cwd.startsWith(s.dir) ? [] : ['--bind', cwd, cwd]),
        '--unshare-pid',
        '--unshare-ipc',
        '--unshare-uts',
        '--die-with-parent',
        '--chdir',
        cwd,
        '--',
        file,
        ...args
      ];
      file = this.bwrap;
    }
    let child: ChildProcess;
    try {
      // detached: its own session and process group, so stopping it reaches all it started
      child = spawn(file, args, { cwd, env, stdio: ['ignore', logFd, logFd], detached: true });
    } finally {
      closeSync(logFd);
    }
    const exit = new Promise<number>(resolve => {
      child.once('error', err => {
        void note(`container ${c.name}: cannot start ${argv[0]}: ${err.message}`).then(() =>
          resolve(127)
        );
      });
      child.once('exit', (code, signal) => resolve(exitCodeOf(code, signal)));
    });
    if (child.pid !== undefined) {
      s.roots.push(child.pid);
      await this.saveState(s);
    }
    return { pid: child.pid, exit };
  }

  private async run(s: LocalSession): Promise<void> {
    const spec = s.bundle.pod.spec!;
    const startedAt = new Date().toISOString();
    const ads = spec.activeDeadlineSeconds;
    if (ads && ads > 0) {
      s.deadline = setTimeout(() => {
        s.expired = true;
        void terminateAll(s, this.graceMs);
      }, ads * 1000);
    }
    const ended = (): boolean => s.deleted || s.expired;
    const expiredStatus = (): BackendStatus => ({
      ...s.status,
      phase: 'failed',
      reason: 'DeadlineExceeded',
      expired: true
    });
    for (const init of spec.initContainers ?? []) {
      if (ended()) break;
      const code = await (await this.startContainer(s, init)).exit;
      if (ended()) break;
      if (code !== 0) {
        await terminateAll(s, this.graceMs);
        return this.finish(s, {
          phase: 'failed',
          reason: `init container ${init.name}: exit code ${code}`,
          exitCode: code
        });
      }
    }
    if (ended()) {
      if (s.expired) await this.finish(s, expiredStatus());
      return;
    }
    const started = [];
    for (const c of spec.containers) started.push(await this.startContainer(s, c));
    const pid = started.find(x => x.pid !== undefined)?.pid;
    this.setStatus(s, {
      ...s.status,
      phase: 'running',
      startedAt,
      backendId: pid !== undefined ? String(pid) : s.status.backendId
    });
    const codes = await Promise.all(started.map(x => x.exit));
    // the container is over: like a runtime, stop whatever it left running
    await terminateAll(s, this.graceMs);
    if (s.expired) return this.finish(s, expiredStatus());
    const failedAt = codes.findIndex(c => c !== 0);
    if (failedAt < 0) return this.finish(s, { phase: 'succeeded', exitCode: 0 });
    const code = codes[failedAt];
    const name = spec.containers.length > 1 ? `container ${spec.containers[failedAt].name}: ` : '';
    await this.finish(s, { phase: 'failed', reason: `${name}exit code ${code}`, exitCode: code });
  }
}
