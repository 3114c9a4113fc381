/**
 * The embedded default: runs a pod's containers as processes on this machine. Init containers
 * first, in order; Secret/ConfigMap volumes become files in a per-session directory; one log file
 * per session; activeDeadlineSeconds enforced; a stopped session leaves no process behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  accessSync,
  closeSync,
  constants as fsConstants,
  existsSync,
  openSync,
  statSync
} from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { constants as osConstants, tmpdir } from 'node:os';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Readable } from 'node:stream';
import type { V1Container } from '@kubernetes/client-node';
import type { SiteHealth } from '@jupyterlab-interlink/contract';
import { asAccount, cannotRunAs, handOver, runAsOf } from '../accounts.js';
import { DriverError } from '../errors.js';
import {
  containerArgv,
  containerEnv,
  materialiseVolumes,
  mountsOf,
  rewrite,
  type Mount
} from '../podfiles.js';
import { findProcesses, isAlive, readStat, terminateAll } from '../procs.js';
import { lastLine, readLogTail, secretValues, withLogLine } from '../reasons.js';
import type { BackendStatus, LogOptions, ObservedPod, PodBundle, SiteConfig } from '../types.js';
import { deadlineExceeded, isFinal, readJson, readStateFolder, TableDriver } from './core.js';

export interface LocalDriverOptions {
  /** Where per-session directories live; default `<tmp>/interlink-local/<site id>`. */
  stateDir?: string;
  /** SIGTERM → SIGKILL grace, ms (default 3000). */
  killGraceMs?: number;
  /** Server environment variables passed to containers (never the server's own secrets). */
  inheritEnv?: string[];
  /**
   * Working directory for containers that name none (or whose own does not exist), when the
   * site's `local.workingDir` names none either: the admin's site file wins.
   */
  workingDir?: string;
  /** Overrides the site's `local.isolation`. */
  isolation?: 'none' | 'bubblewrap';
  /**
   * close() leaves sessions running (for a restart of the server that re-adopts them); by
   * default close() stops them all.
   */
  keepOnClose?: boolean;
}

interface ContainerRecord {
  name: string;
  pid: number;
  starttime: string;
  statusFile: string;
  init: boolean;
}

interface SavedState {
  /** Deleted by the server (a stop, a walltime): nothing to re-adopt after a restart. */
  deleted?: boolean;
  tag: string;
  roots: number[];
  containers: ContainerRecord[];
  phase: 'init' | 'running';
  startedAt?: string;
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
  containers: ContainerRecord[];
  children: ChildProcess[];
  phase: 'init' | 'running';
  startedAt?: string;
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

export class LocalDriver extends TableDriver<LocalSession> {
  readonly kind = 'local' as const;
  private readonly stateDir: string;
  private readonly graceMs: number;
  private readonly isolation: 'none' | 'bubblewrap';
  private readonly bwrap: string | null;

  constructor(
    site: SiteConfig,
    private readonly options: LocalDriverOptions = {}
  ) {
    super(site);
    this.stateDir = options.stateDir ?? join(tmpdir(), 'interlink-local', site.id);
    this.graceMs = options.killGraceMs ?? 3000;
    this.isolation = options.isolation ?? site.local?.isolation ?? 'none';
    this.bwrap = this.isolation === 'bubblewrap' ? findBwrap() : null;
  }

  /**
   * Re-adopts the sessions an earlier run left (after a crash, or a close() with keepOnClose):
   * running ones are followed again, their deadline included; ended ones are reported with the
   * exit code their wrapper recorded. A session caught during its init containers is stopped.
   */
  async start(): Promise<ObservedPod[]> {
    const observed: ObservedPod[] = [];
    // a directory without both files is left over from a create that did not finish
    const found = await readStateFolder(
      this.stateDir,
      async name => ({
        state: await readJson<SavedState>(join(this.stateDir, name, 'state.json')),
        pod: await readJson<PodBundle['pod']>(join(this.stateDir, name, 'pod.json'))
      }),
      name => rm(join(this.stateDir, name), { recursive: true, force: true })
    );
    for (const {
      entry: name,
      saved: { state, pod }
    } of found) {
      if (this.sessions.has(name)) continue;
      if (state.deleted) {
        // Stopped before the restart: its processes were ended then. Re-adopted, it would only
        // come back as failed with its exit code unknown.
        await rm(join(this.stateDir, name), { recursive: true, force: true });
        continue;
      }
      const dir = join(this.stateDir, name);
      const s: LocalSession = {
        id: name,
        bundle: { pod, secrets: [], configMaps: [] },
        dir,
        logPath: join(dir, 'log'),
        tag: state.tag,
        roots: state.roots ?? [],
        status: { phase: 'running', backendId: pod.metadata?.name, startedAt: state.startedAt },
        volumes: new Map(),
        expired: false,
        deleted: false,
        containers: state.containers ?? [],
        children: [],
        phase: state.phase,
        startedAt: state.startedAt
      };
      this.sessions.adopt(s);
      const mains = s.containers.filter(c => !c.init);
      if (state.phase === 'running' && mains.length > 0) {
        s.status.backendId = String(mains[0].pid);
        const alive = mains.some(c => readStat(c.pid)?.starttime === c.starttime && isAlive(c.pid));
        s.run = this.follow(
          s,
          mains.map(c => ({ pid: c.pid, exit: this.watchExit(s, c) }))
        );
        // ended while nobody watched: report how, not a running session
        if (!alive) await s.run;
      } else {
        await terminateAll(s, this.graceMs);
        s.status = {
          phase: 'failed',
          backendId: s.status.backendId,
          reason: 'interrupted by a restart of the server before it started'
        };
      }
      observed.push({ sessionId: name, pod, status: { ...s.status } });
    }
    return observed;
  }

  async create(bundle: PodBundle): Promise<{ backendId: string }> {
    const id = this.sessions.claim(bundle.pod, this.closed);
    const runAs = runAsOf(bundle.pod);
    const cannot = runAs && cannotRunAs(this.site, runAs);
    if (cannot) throw new DriverError('Invalid', cannot);
    if (this.isolation === 'bubblewrap' && !this.bwrap) {
      throw new DriverError(
        'Unavailable',
        `site "${this.site.id}" asks for bubblewrap isolation but bwrap is not installed`
      );
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
      deleted: false,
      containers: [],
      children: [],
      phase: 'init'
    };
    await writeFile(s.logPath, '', { mode: 0o600 });
    await writeFile(join(dir, 'pod.json'), JSON.stringify(bundle.pod), { mode: 0o600 });
    try {
      s.volumes = await materialiseVolumes(bundle, join(dir, 'volumes'));
      // The job's secret and files are its account's own; the records beside them stay ours.
      if (runAs) {
        await handOver([join(dir, 'volumes')], [dirname(this.stateDir), this.stateDir, dir], runAs);
      }
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    await this.saveState(s);
    this.sessions.add(s);
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
    await this.saveState(s);
    await terminateAll(s, this.graceMs);
    await s.run;
    await rm(join(s.dir, 'volumes'), { recursive: true, force: true });
    this.sessions.setStatus(s, { ...s.status, phase: 'gone' });
  }

  async logs(sessionId: string, options: LogOptions = {}): Promise<Readable> {
    const s = this.sessions.require(sessionId);
    return this.logFile(s, s.logPath, options);
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
    if (this.options.keepOnClose) {
      // stop following, leave them running: the next start() re-adopts them
      for (const s of this.sessions.all()) {
        if (s.deadline) clearTimeout(s.deadline);
        for (const c of s.children) c.unref();
      }
      this.sessions.clear();
      return;
    }
    await Promise.all(this.sessions.ids().map(id => this.delete(id)));
    await rm(this.stateDir, { recursive: true, force: true });
    this.sessions.clear();
  }

  /** For tests and diagnostics: the live processes of a session. */
  processes(sessionId: string): number[] {
    const s = this.sessions.get(sessionId);
    return s ? findProcesses(s).map(p => p.pid) : [];
  }

  private async saveState(s: LocalSession): Promise<void> {
    const state: SavedState = {
      deleted: s.deleted || undefined,
      tag: s.tag,
      roots: s.roots,
      containers: s.containers,
      phase: s.phase,
      startedAt: s.startedAt
    };
    await writeFile(join(s.dir, 'state.json'), JSON.stringify(state), { mode: 0o600 });
  }

  /** The final word on a session, once; `gone` (deletion) only from delete(). Secrets go first. */
  private async finish(s: LocalSession, status: BackendStatus): Promise<void> {
    if (s.deadline) clearTimeout(s.deadline);
    if (isFinal(s.status.phase) || s.deleted) return;
    await rm(join(s.dir, 'volumes'), { recursive: true, force: true });
    if (isFinal(s.status.phase) || s.deleted) return;
    this.sessions.setStatus(s, { ...s.status, ...status });
  }

  private envOf(s: LocalSession, c: V1Container, mounts: Mount[]): Record<string, string> {
    const base: Record<string, string> = {};
    for (const name of this.options.inheritEnv ?? DEFAULT_INHERIT) {
      const v = process.env[name];
      if (v !== undefined) base[name] = v;
    }
    const env = containerEnv(s.bundle, c, mounts, base);
    const [k, v] = s.tag.split('=');
    env[k] = v;
    return env;
  }

  private cwdOf(
    s: LocalSession,
    c: V1Container,
    mounts: Mount[],
    env: Record<string, string>
  ): string {
    if (c.workingDir) {
      const wd = rewrite(c.workingDir, mounts);
      try {
        if (statSync(wd).isDirectory()) return wd;
      } catch {
        // falls back below
      }
    }
    const fallback = this.site.local?.workingDir ?? this.options.workingDir;
    if (fallback && existsSync(fallback)) return fallback;
    // A job under its own account starts at home, as a login would.
    if (runAsOf(s.bundle.pod) && env.HOME && existsSync(env.HOME)) return env.HOME;
    return join(s.dir, 'work');
  }

  /** argv[0] as exec would find it, or null. */
  private resolveCommand(file: string, env: Record<string, string>, cwd: string): string | null {
    const candidates = file.includes('/')
      ? [resolvePath(cwd, file)]
      : (env.PATH ?? '/usr/bin:/bin').split(':').map(d => join(d || '.', file));
    for (const c of candidates) {
      try {
        accessSync(c, fsConstants.X_OK);
        if (statSync(c).isFile()) return c;
      } catch {
        // next
      }
    }
    return null;
  }

  /**
   * Starts one container under a tiny shell that records its exit code in a file, so that a
   * server restarted in the meantime still learns how it ended. Resolves with the exit code
   * (127 when it cannot start).
   */
  private async startContainer(
    s: LocalSession,
    c: V1Container,
    init: boolean
  ): Promise<{ pid?: number; exit: Promise<number | undefined> }> {
    const mounts = mountsOf(s.volumes, c);
    const env = this.envOf(s, c, mounts);
    const argv = containerArgv(c, env, mounts);
    const cwd = this.cwdOf(s, c, mounts, env);
    const runAs = runAsOf(s.bundle.pod);
    if (!existsSync(cwd)) {
      await mkdir(cwd, { recursive: true });
      if (runAs) await handOver([cwd], [], runAs);
    }
    const note = async (text: string) => writeFile(s.logPath, text + '\n', { flag: 'a' });
    if (argv.length === 0) {
      await note(`container ${c.name}: no command (the local executor runs commands, not images)`);
      return { exit: Promise.resolve(127) };
    }
    if (!this.resolveCommand(argv[0], env, cwd)) {
      await note(`container ${c.name}: cannot start ${argv[0]}: no such executable`);
      return { exit: Promise.resolve(127) };
    }
    let command = argv;
    if (this.isolation === 'bubblewrap' && this.bwrap) {
      // read-only host, private /tmp, /proc and pid namespace; the session's files stay writable
      command = [
        this.bwrap,
        ...['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp'],
        ...['--bind', s.dir, s.dir],
        ...(cwd.startsWith(s.dir) ? [] : ['--bind', cwd, cwd]),
        ...['--unshare-pid', '--unshare-ipc', '--unshare-uts', '--die-with-parent'],
        ...['--chdir', cwd, '--'],
        ...argv
      ];
    }
    const statusFile = join(s.dir, `status-${init ? 'init-' : ''}${c.name}`);
    const wrapper = [
      '/bin/sh',
      '-c',
      '"$@"; c=$?; echo $c > "$0"; exit $c',
      statusFile,
      ...command
    ];
    if (runAs) {
      // The one file of ours the job writes: made here, given to its account.
      await writeFile(statusFile, '', { mode: 0o600 });
      await handOver([statusFile], [], runAs);
    }
    const argv0 = runAs ? asAccount(wrapper, runAs) : wrapper;
    const logFd = openSync(s.logPath, 'a');
    let child: ChildProcess;
    try {
      // detached: its own session and process group, so stopping it reaches all it started
      child = spawn(argv0[0], argv0.slice(1), {
        cwd,
        env,
        stdio: ['ignore', logFd, logFd],
        detached: true
      });
    } finally {
      closeSync(logFd);
    }
    s.children.push(child);
    const exit = new Promise<number | undefined>(resolve => {
      child.once('error', err => {
        void note(`container ${c.name}: cannot start ${argv[0]}: ${err.message}`).then(() =>
          resolve(127)
        );
      });
      child.once('exit', (code, signal) => resolve(exitCodeOf(code, signal)));
    });
    if (child.pid !== undefined) {
      s.roots.push(child.pid);
      const stat = readStat(child.pid);
      s.containers.push({
        name: c.name,
        pid: child.pid,
        starttime: stat?.starttime ?? '',
        statusFile,
        init
      });
      await this.saveState(s);
    }
    return { pid: child.pid, exit };
  }

  /** For a re-adopted container (not our child): its end, and the code its wrapper recorded. */
  private async watchExit(s: LocalSession, c: ContainerRecord): Promise<number | undefined> {
    for (;;) {
      const stat = readStat(c.pid);
      const alive =
        stat && stat.starttime === c.starttime && stat.state !== 'Z' && stat.state !== 'X';
      if (!alive || s.deleted) break;
      await sleep(250);
    }
    try {
      const n = Number((await readFile(c.statusFile, 'utf8')).trim());
      return Number.isInteger(n) ? n : undefined;
    } catch {
      return undefined;
    }
  }

  private armDeadline(s: LocalSession): void {
    const ads = s.bundle.pod.spec?.activeDeadlineSeconds;
    if (!ads || ads <= 0) return;
    const started = s.startedAt ? Date.parse(s.startedAt) : Date.now();
    s.deadline = setTimeout(
      () => {
        s.expired = true;
        void terminateAll(s, this.graceMs);
      },
      Math.max(0, started + ads * 1000 - Date.now())
    );
  }

  private async run(s: LocalSession): Promise<void> {
    const spec = s.bundle.pod.spec!;
    s.startedAt = new Date().toISOString();
    this.armDeadline(s);
    const ended = (): boolean => s.deleted || s.expired;
    for (const init of spec.initContainers ?? []) {
      if (ended()) break;
      const code = await (await this.startContainer(s, init, true)).exit;
      if (ended()) break;
      if (code !== 0) {
        await terminateAll(s, this.graceMs);
        return this.finish(s, {
          phase: 'failed',
          reason: withLogLine(
            `init container ${init.name}: exit code ${code}`,
            await this.logLine(s)
          ),
          exitCode: code
        });
      }
    }
    if (ended()) {
      if (s.expired) await this.finish(s, deadlineExceeded(s.status));
      return;
    }
    s.phase = 'running';
    const started = [];
    for (const c of spec.containers) started.push(await this.startContainer(s, c, false));
    await this.saveState(s);
    const pid = started.find(x => x.pid !== undefined)?.pid;
    this.sessions.setStatus(s, {
      ...s.status,
      phase: 'running',
      startedAt: s.startedAt,
      backendId: pid !== undefined ? String(pid) : s.status.backendId
    });
    await this.follow(s, started, false);
  }

  /** From running containers to the final status. */
  private async follow(
    s: LocalSession,
    started: { pid?: number; exit: Promise<number | undefined> }[],
    adopted = true
  ): Promise<void> {
    if (adopted) this.armDeadline(s);
    const codes = await Promise.all(started.map(x => x.exit));
    if (this.closed && this.options.keepOnClose) return;
    // the container is over: like a runtime, stop whatever it left running
    await terminateAll(s, this.graceMs);
    if (s.expired) return this.finish(s, deadlineExceeded(s.status));
    const containers = s.bundle.pod.spec!.containers;
    const failedAt = codes.findIndex(c => c !== 0);
    if (failedAt < 0) return this.finish(s, { phase: 'succeeded', exitCode: 0 });
    const code = codes[failedAt];
    const name = containers.length > 1 ? `container ${containers[failedAt]?.name}: ` : '';
    if (code === undefined) {
      return this.finish(s, {
        phase: 'failed',
        reason: `${name}ended while the server was down (exit code unknown)`
      });
    }
    await this.finish(s, {
      phase: 'failed',
      reason: withLogLine(`${name}exit code ${code}`, await this.logLine(s)),
      exitCode: code
    });
  }

  /** The log's last line for a failure reason, without the session's secrets. */
  private async logLine(s: LocalSession): Promise<string | undefined> {
    return lastLine(await readLogTail(s.logPath), secretValues(s.bundle.secrets));
  }
}
