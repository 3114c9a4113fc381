/**
 * Slurm executor: a pod becomes a batch script the way interLink's Slurm plugin builds one (an
 * `#SBATCH` line per `slurm-job.vk.io/flags` flag, job name, output file, pre-exec, an env file per
 * container, secrets as 0600 files), submitted with sbatch. One squeue call per interval follows
 * every session of the site; scancel stops one.
 */
import { execFile } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import type { SiteHealth } from '@jupyterlab-interlink/contract';
import { DriverError, sessionIdOf } from '../errors.js';
import { fileLogStream } from '../logfile.js';
import { containerArgv, containerEnv, materialiseVolumes, mountsOf, rewrite } from '../podfiles.js';
import { memoryLimitOf } from '../pod.js';
import {
  lastLine,
  outOfMemoryReason,
  readLogTail,
  secretValues,
  slurmMemoryKill,
  withLogLine
} from '../reasons.js';
import {
  ANNOTATIONS,
  type BackendStatus,
  type Driver,
  type DriverEvents,
  type LogOptions,
  type ObservedPod,
  type PodBundle,
  type SiteConfig
} from '../types.js';

export interface SlurmDriverOptions {
  /** Job directories (scripts, secrets, output); default site.slurm.workDir, then `<tmp>/interlink-slurm-jobs/<site>`. */
  workDir?: string;
  /** One squeue per interval for all sessions, ms (default 1000). */
  pollIntervalMs?: number;
  /** Extra environment for sbatch/squeue/scancel, e.g. SLURM_CONF. */
  env?: Record<string, string>;
}

/** Counts of backend calls, for the bench: squeue calls must not grow with sessions. */
export interface SlurmCallStats {
  sbatch: number;
  squeue: number;
  scancel: number;
  polls: number;
  /** wall time spent in polls (squeue + mapping), ms */
  pollMs: number;
}

const FINAL = new Set(['succeeded', 'failed', 'gone']);
const PASS_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'USER', 'LOGNAME', 'SLURM_CONF'];
const SQUEUE_FORMAT = '%i|%t|%r|%S';

interface SlurmSession {
  id: string;
  pod: V1Pod;
  dir: string;
  jobId?: string;
  status: BackendStatus;
  /** the driver cancelled it for its deadline */
  expiring: boolean;
  deleted: boolean;
  misses: number;
  /** The Secrets' values, kept out of failure reasons (unknown after a re-adoption). */
  secrets: string[];
}

export interface SqueueRow {
  jobId: string;
  state: string;
  reason: string;
  start: string;
}

export function parseSqueue(text: string): SqueueRow[] {
  const rows: SqueueRow[] = [];
  for (const line of text.split('\n')) {
    const [jobId, state, reason, start] = line.trim().split('|');
    if (jobId && state) rows.push({ jobId, state, reason: reason ?? '', start: start ?? '' });
  }
  return rows;
}

/** Slurm prints local times without a zone. */
function slurmTime(text: string): string | undefined {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/.test(text)) return undefined;
  const d = new Date(text);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

const QUEUED = new Set(['PD', 'CF', 'RQ', 'RF', 'RH', 'RD', 'S', 'ST']);
const RUNNING = new Set(['R', 'CG', 'SI', 'SO', 'RS']);
const FAILED_REASON: Record<string, string> = {
  OOM: 'OOMKilled',
  CA: 'cancelled',
  NF: 'NodeFail',
  PR: 'Preempted',
  BF: 'BootFail',
  RV: 'Revoked',
  SE: 'SpecialExit'
};

/**
 * squeue's compact state → our phase, as interLink maps it: PD/S waiting, R/CG running, CD done,
 * F failed with its exit code, TO `SlurmJobTimeout` (expired), OOM `OOMKilled`.
 * `exitCode` comes from the job's own status files where the batch script wrote them.
 */
export function mapSlurmState(row: SqueueRow, exitCode?: number): BackendStatus {
  const base: BackendStatus = { phase: 'pending', backendId: row.jobId };
  if (QUEUED.has(row.state)) {
    const queue: BackendStatus['queue'] = {};
    if (row.reason && row.reason !== 'None') queue.reason = row.reason;
    const start = slurmTime(row.start);
    if (start) queue.expectedStart = start;
    return { ...base, phase: 'queued', queue };
  }
  if (RUNNING.has(row.state)) return { ...base, phase: 'running', startedAt: slurmTime(row.start) };
  const startedAt = slurmTime(row.start);
  if (row.state === 'CD') {
    if (exitCode !== undefined && exitCode !== 0) {
      return { ...base, phase: 'failed', reason: `exit code ${exitCode}`, exitCode, startedAt };
    }
    return { ...base, phase: 'succeeded', exitCode: 0, startedAt };
  }
  if (row.state === 'F') {
    const reason =
      exitCode !== undefined ? `exit code ${exitCode}` : row.reason || 'NonZeroExitCode';
    return { ...base, phase: 'failed', reason, exitCode, startedAt };
  }
  if (row.state === 'TO')
    return { ...base, phase: 'failed', reason: 'SlurmJobTimeout', expired: true, startedAt };
  if (row.state === 'DL')
    return { ...base, phase: 'failed', reason: 'DeadlineExceeded', expired: true, startedAt };
  const reason = FAILED_REASON[row.state] ?? `Slurm job state ${row.state}`;
  return { ...base, phase: 'failed', reason, exitCode, startedAt };
}

/** Single-quoted for bash. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface JobScriptInput {
  jobName: string;
  dir: string;
  flags: string[];
  preExec?: string;
  init: { name: string; cwd: string; argv: string[] }[];
  containers: { name: string; cwd: string; argv: string[] }[];
}

/** The sbatch script. Containers' exit codes land in `<dir>/{init,run}-<name>.status`. */
export function renderJobScript(input: JobScriptInput): string {
  const lines = ['#!/bin/bash'];
  for (const flag of input.flags) lines.push(`#SBATCH ${flag}`);
  // ours last: sbatch keeps the last value, and the log must be where we read it
  lines.push(`#SBATCH --job-name=${input.jobName}`, `#SBATCH --output=${input.dir}/job.out`);
  lines.push(
    '',
    '# a cancel that reached the node before the launch is lost (seen with Slurm 22.05): check once',
    'if [ "$(squeue -h -j "$SLURM_JOB_ID" -o %t 2>/dev/null)" = CA ]; then echo "cancelled before it started" >&2; exit 143; fi'
  );
  if (input.preExec) lines.push('', '# pre-exec (slurm-job.vk.io/pre-exec)', input.preExec);
  lines.push(
    '',
    `workdir=${shq(input.dir)}`,
    'highest=0',
    'pids=""',
    '# a container: its env file on top of the job environment, its working directory or $HOME',
    'ctn() {',
    '  local name=$1 cwd=$2; shift 2',
    '  . "$workdir/env-$name.sh"',
    '  { [ -n "$cwd" ] && cd "$cwd" 2>/dev/null; } || cd "$HOME" 2>/dev/null || cd "$workdir"',
    '  exec "$@"',
    '}',
    'run_init() {',
    '  local name=$1',
    '  ( ctn "$@" )',
    '  local code=$?',
    '  echo "$code" > "$workdir/init-$name.status"',
    '  if [ "$code" -ne 0 ]; then echo "init container $name: exit code $code" >&2; exit "$code"; fi',
    '}',
    'run_ctn() {',
    '  ( ctn "$@" ) &',
    '  pids="$pids $!:$1"',
    '}',
    "trap 'kill -TERM $(jobs -p) 2>/dev/null; wait' TERM",
    ''
  );
  for (const c of input.init)
    lines.push(['run_init', c.name, shq(c.cwd), ...c.argv.map(shq)].join(' '));
  for (const c of input.containers)
    lines.push(['run_ctn', c.name, shq(c.cwd), ...c.argv.map(shq)].join(' '));
  lines.push(
    'for pc in $pids; do',
    '  wait "${pc%%:*}"; code=$?',
    '  echo "$code" > "$workdir/run-${pc#*:}.status"',
    '  [ "$code" -gt "$highest" ] && highest=$code',
    'done',
    'exit "$highest"',
    ''
  );
  return lines.join('\n');
}

function envFile(env: Record<string, string>): string {
  return (
    Object.entries(env)
      .filter(([k]) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(k))
      .map(([k, v]) => `export ${k}=${shq(v)}`)
      .join('\n') + '\n'
  );
}

interface Exec {
  stdout: string;
  stderr: string;
  code: number;
}

/**
 * Site health from `sinfo -N -O NodeHost,Gres,GresUsed,StateCompact` (`|`-separated): a node takes
 * new jobs when idle, mixed, allocated or completing (a job just ended there; a node in the middle
 * of that is not down), and free GPUs are what its Gres has beyond GresUsed.
 */
export function parseSinfo(stdout: string): Omit<SiteHealth, 'checkedAt'> {
  let usable = 0;
  let freeGpus = 0;
  const states: string[] = [];
  for (const line of stdout.trim().split('\n').filter(Boolean)) {
    const [, gres, used, state] = line.split('|');
    states.push(state);
    // a trailing * is a node that does not answer
    if (!/^(idle|mix|alloc|comp|plnd)[^*]*$/.test(state)) continue;
    usable++;
    const count = (text: string) => Number(/gpu(?::[^:(,]+)?:(\d+)/.exec(text)?.[1] ?? 0);
    freeGpus += Math.max(0, count(gres) - count(used));
  }
  if (usable === 0) {
    return {
      status: 'down',
      message: `no usable node (${states.join(', ') || 'none'})`,
      freeGpus: 0
    };
  }
  return { status: usable < states.length ? 'degraded' : 'ok', freeGpus };
}

export class SlurmDriver extends EventEmitter<DriverEvents> implements Driver {
  readonly kind = 'slurm' as const;
  readonly stats: SlurmCallStats = { sbatch: 0, squeue: 0, scancel: 0, polls: 0, pollMs: 0 };
  private readonly sessions = new Map<string, SlurmSession>();
  private readonly workDir: string;
  private readonly interval: number;
  private readonly env: Record<string, string>;
  private timer?: NodeJS.Timeout;
  private polling?: Promise<void>;
  private lastPollStart = -Infinity;
  private closed = false;

  constructor(
    readonly site: SiteConfig,
    options: SlurmDriverOptions = {}
  ) {
    super();
    this.workDir =
      site.slurm?.workDir ?? options.workDir ?? join(tmpdir(), 'interlink-slurm-jobs', site.id);
    this.interval = options.pollIntervalMs ?? 1000;
    const env: Record<string, string> = {};
    for (const k of PASS_ENV) if (process.env[k] !== undefined) env[k] = process.env[k]!;
    if (site.slurm?.conf) env.SLURM_CONF = site.slurm.conf;
    this.env = { ...env, ...options.env };
  }

  private run(cmd: string, args: string[], cwd?: string): Promise<Exec> {
    return new Promise(resolve => {
      execFile(
        cmd,
        args,
        { env: this.env, cwd, timeout: 30000, maxBuffer: 64 * 1024 * 1024 },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : 127) : 0;
          resolve({
            stdout: String(stdout),
            stderr: String(stderr) || (err && code === 127 ? err.message : ''),
            code
          });
        }
      );
    });
  }

  /** Re-adopts the jobs of earlier runs from their directories, then follows everything. */
  async start(): Promise<ObservedPod[]> {
    await mkdir(this.workDir, { recursive: true, mode: 0o700 });
    for (const name of await readdir(this.workDir)) {
      if (this.sessions.has(name)) continue;
      try {
        const saved = JSON.parse(
          await readFile(join(this.workDir, name, 'session.json'), 'utf8')
        ) as {
          jobId: string;
          pod: V1Pod;
        };
        this.sessions.set(name, {
          id: name,
          pod: saved.pod,
          dir: join(this.workDir, name),
          jobId: saved.jobId,
          status: { phase: 'pending', backendId: saved.jobId },
          expiring: false,
          deleted: false,
          misses: 2,
          secrets: []
        });
      } catch {
        // not a submitted job
      }
    }
    await this.poll();
    this.schedule();
    return [...this.sessions.values()].map(s => ({
      sessionId: s.id,
      pod: s.pod,
      status: { ...s.status }
    }));
  }

  async create(bundle: PodBundle): Promise<{ backendId: string }> {
    if (this.closed) throw new DriverError('Unavailable', 'driver is closed');
    const id = sessionIdOf(bundle.pod);
    const existing = this.sessions.get(id);
    if (existing && existing.status.phase !== 'gone')
      throw new DriverError('AlreadyExists', `session ${id} already exists`);
    const dir = join(this.workDir, id);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const spec = bundle.pod.spec!;
    const volumes = await materialiseVolumes(bundle, join(dir, 'volumes'));
    const prepare = async (c: V1Container) => {
      const mounts = mountsOf(volumes, c);
      const env = containerEnv(bundle, c, mounts);
      await writeFile(join(dir, `env-${c.name}.sh`), envFile(env), { mode: 0o600 });
      const argv = containerArgv(c, env, mounts);
      if (argv.length === 0)
        throw new DriverError(
          'Invalid',
          `container ${c.name}: no command (Slurm jobs run commands)`
        );
      return { name: c.name, cwd: c.workingDir ? rewrite(c.workingDir, mounts) : '', argv };
    };
    const ann = bundle.pod.metadata?.annotations ?? {};
    const script = renderJobScript({
      jobName: bundle.pod.metadata?.name ?? `interlink-${id}`,
      dir,
      flags: (ann[ANNOTATIONS.slurmFlags] ?? '').split(/\s+/).filter(Boolean),
      preExec: ann[ANNOTATIONS.slurmPreExec],
      init: await Promise.all((spec.initContainers ?? []).map(prepare)),
      containers: await Promise.all(spec.containers.map(prepare))
    });
    await writeFile(join(dir, 'job.slurm'), script, { mode: 0o700 });
    this.stats.sbatch++;
    const out = await this.run('sbatch', ['--parsable', join(dir, 'job.slurm')], dir);
    if (out.code !== 0) {
      await rm(dir, { recursive: true, force: true });
      throw new DriverError(
        'Backend',
        `sbatch failed: ${out.stderr.trim() || `exit code ${out.code}`}`
      );
    }
    const jobId = out.stdout.trim().split(';')[0];
    const pod = structuredClone(bundle.pod);
    await writeFile(join(dir, 'session.json'), JSON.stringify({ jobId, pod }), { mode: 0o600 });
    const s: SlurmSession = {
      id,
      pod,
      dir,
      jobId,
      status: { phase: 'pending', backendId: jobId },
      expiring: false,
      deleted: false,
      misses: 0,
      secrets: secretValues(bundle.secrets)
    };
    this.sessions.set(id, s);
    this.emit('update', id, { ...s.status });
    this.schedule();
    return { backendId: jobId };
  }

  async delete(sessionId: string): Promise<void> {
    const s = this.sessions.get(sessionId);
    if (!s || s.status.phase === 'gone') return;
    s.deleted = true;
    if (s.jobId && !FINAL.has(s.status.phase)) {
      this.stats.scancel++;
      const out = await this.run('scancel', [s.jobId]);
      // an already finished job is fine: it is gone either way
      if (out.code !== 0 && !/Invalid job id|already completing|completed/i.test(out.stderr)) {
        s.deleted = false;
        throw new DriverError('Backend', `scancel ${s.jobId} failed: ${out.stderr.trim()}`);
      }
    }
    await rm(join(s.dir, 'volumes'), { recursive: true, force: true });
    await rm(join(s.dir, 'session.json'), { force: true });
    this.setStatus(s, { ...s.status, phase: 'gone' });
  }

  async logs(sessionId: string, options: LogOptions = {}): Promise<Readable> {
    const s = this.sessions.get(sessionId);
    if (!s) throw new DriverError('NotFound', `no session ${sessionId} on site ${this.site.id}`);
    return fileLogStream(join(s.dir, 'job.out'), {
      tail: options.tail,
      follow: options.follow,
      signal: options.signal,
      // a closed driver follows nothing: its readers end too
      isDone: () => FINAL.has(s.status.phase) || this.closed
    });
  }

  async health(): Promise<SiteHealth> {
    const checkedAt = new Date().toISOString();
    const out = await this.run('sinfo', [
      '-h',
      '-N',
      '-O',
      'NodeHost:|,Gres:|,GresUsed:|,StateCompact:|'
    ]);
    if (out.code !== 0) {
      return {
        status: 'down',
        message: `sinfo: ${out.stderr.trim() || `exit code ${out.code}`}`,
        checkedAt
      };
    }
    return { ...parseSinfo(out.stdout), checkedAt };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.polling;
  }

  /** Polls start one interval apart (not an interval after the last one ended), so a change waits at most an interval plus one squeue. */
  private schedule(): void {
    if (this.closed || this.timer) return;
    const since = performance.now() - this.lastPollStart;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        void this.poll().finally(() => {
          if ([...this.sessions.values()].some(s => !FINAL.has(s.status.phase))) this.schedule();
        });
      },
      Math.max(0, this.interval - since)
    );
  }

  /** One squeue for every live session of the site. */
  private poll(): Promise<void> {
    if (!this.polling) {
      this.polling = this.pollOnce().finally(() => {
        this.polling = undefined;
      });
    }
    return this.polling;
  }

  private async pollOnce(): Promise<void> {
    const live = [...this.sessions.values()].filter(s => s.jobId && !FINAL.has(s.status.phase));
    if (live.length === 0) return;
    this.stats.polls++;
    this.stats.squeue++;
    const t0 = performance.now();
    this.lastPollStart = t0;
    try {
      await this.pollJobs(live);
    } finally {
      this.stats.pollMs += performance.now() - t0;
    }
  }

  private async pollJobs(live: SlurmSession[]): Promise<void> {
    const out = await this.run('squeue', [
      '-h',
      '-t',
      'all',
      `--jobs=${live.map(s => s.jobId).join(',')}`,
      '-o',
      SQUEUE_FORMAT
    ]);
    // every id unknown (purged) is an error for squeue; that is an empty answer here
    if (out.code !== 0 && !/Invalid job id/i.test(out.stderr)) {
      this.reportHealth({
        status: 'degraded',
        message: `squeue: ${out.stderr.trim()}`,
        checkedAt: new Date().toISOString()
      });
      return;
    }
    this.reportHealth({ status: 'ok', checkedAt: new Date().toISOString() });
    const rows = new Map(parseSqueue(out.code === 0 ? out.stdout : '').map(r => [r.jobId, r]));
    await Promise.all(
      live.map(async s => {
        const row = rows.get(s.jobId!);
        if (!row) return this.missing(s);
        s.misses = 0;
        let status: BackendStatus;
        if (QUEUED.has(row.state) || RUNNING.has(row.state)) {
          status = mapSlurmState(row);
        } else {
          status = await this.finalStatus(s, row);
        }
        if (s.deleted) return;
        if (s.expiring && status.phase === 'failed' && row.state === 'CA') {
          status = { ...status, reason: 'DeadlineExceeded', expired: true };
        }
        this.setStatus(s, status);
        if (status.phase === 'running') await this.enforceDeadline(s);
      })
    );
  }

  /** The job's exit code as its batch script recorded it, init containers first. */
  private async exitFromFiles(s: SlurmSession): Promise<{ code?: number; init?: string }> {
    const read = async (file: string) => {
      try {
        const n = Number((await readFile(join(s.dir, file), 'utf8')).trim());
        return Number.isInteger(n) ? n : undefined;
      } catch {
        return undefined;
      }
    };
    for (const c of s.pod.spec?.initContainers ?? []) {
      const code = await read(`init-${c.name}.status`);
      if (code !== undefined && code !== 0) return { code, init: c.name };
    }
    let highest: number | undefined;
    for (const c of s.pod.spec?.containers ?? []) {
      const code = await read(`run-${c.name}.status`);
      if (code !== undefined) highest = Math.max(highest ?? 0, code);
    }
    return { code: highest };
  }

  private async finalStatus(s: SlurmSession, row: SqueueRow): Promise<BackendStatus> {
    const files = await this.exitFromFiles(s);
    let code = files.code;
    if (code === undefined && row.state === 'F') {
      // the script did not get to write it: ask Slurm once for this finished job
      const out = await this.run('scontrol', ['-o', 'show', 'job', s.jobId!]);
      const m = /ExitCode=(\d+):(\d+)/.exec(out.stdout);
      if (m) code = Number(m[1]) || 128 + Number(m[2]);
    }
    const status = mapSlurmState(row, code);
    if (status.phase !== 'failed' || status.expired || row.state === 'CA') return status;
    return this.inWords(s, status, files, row.state === 'OOM');
  }

  /**
   * A failure as a person reads it: out of memory when Slurm says so (state OOM with cgroups;
   * without them only the job log tells), else the exit code with the log's last line.
   */
  private async inWords(
    s: SlurmSession,
    status: BackendStatus,
    files: { code?: number; init?: string },
    oom: boolean
  ): Promise<BackendStatus> {
    const tail = await readLogTail(join(s.dir, 'job.out'));
    const killed = slurmMemoryKill(tail);
    if (oom || killed) {
      return { ...status, reason: outOfMemoryReason(killed?.limitBytes ?? memoryLimitOf(s.pod)) };
    }
    const base = files.init
      ? `init container ${files.init}: exit code ${files.code}`
      : (status.reason ?? 'failed');
    return { ...status, reason: withLogLine(base, lastLine(tail, s.secrets)) };
  }

  /** Slurm no longer lists the job (purged after MinJobAge): its status files tell how it ended. */
  private async missing(s: SlurmSession): Promise<void> {
    const files = await this.exitFromFiles(s);
    if (files.code !== undefined) {
      const status: BackendStatus =
        files.code === 0
          ? { ...s.status, phase: 'succeeded', exitCode: 0 }
          : await this.inWords(
              s,
              {
                ...s.status,
                phase: 'failed',
                exitCode: files.code,
                reason: `exit code ${files.code}`
              },
              files,
              false
            );
      return this.setStatus(s, status);
    }
    if (++s.misses >= 3) {
      this.setStatus(s, {
        ...s.status,
        phase: 'failed',
        reason: `Slurm no longer knows job ${s.jobId}`
      });
    }
  }

  /** activeDeadlineSeconds, to the second (Slurm's --time counts whole minutes). */
  private async enforceDeadline(s: SlurmSession): Promise<void> {
    const ads = s.pod.spec?.activeDeadlineSeconds;
    if (!ads || s.expiring || !s.status.startedAt) return;
    if (Date.now() - Date.parse(s.status.startedAt) < ads * 1000) return;
    s.expiring = true;
    this.stats.scancel++;
    await this.run('scancel', [s.jobId!]);
    this.setStatus(s, { ...s.status, phase: 'failed', reason: 'DeadlineExceeded', expired: true });
  }

  private lastHealth?: string;
  /** `health` events on change only, not once per poll. */
  private reportHealth(h: SiteHealth): void {
    const key = `${h.status}:${h.message ?? ''}`;
    if (key === this.lastHealth) return;
    const first = this.lastHealth === undefined;
    this.lastHealth = key;
    if (!first || h.status !== 'ok') this.emit('health', h);
  }

  private setStatus(s: SlurmSession, status: BackendStatus): void {
    if (FINAL.has(s.status.phase) && status.phase !== 'gone') return;
    if (JSON.stringify(status) === JSON.stringify(s.status)) return;
    s.status = status;
    this.emit('update', s.id, { ...status });
    if (FINAL.has(status.phase) && status.phase !== 'gone') {
      // nothing runs any more: the secret files go
      void rm(join(s.dir, 'volumes'), { recursive: true, force: true });
    }
  }

  sessionIds(): string[] {
    return [...this.sessions.keys()];
  }

  /** The job id of a session, for tests and diagnostics. */
  jobId(sessionId: string): string | undefined {
    return this.sessions.get(sessionId)?.jobId;
  }
}
