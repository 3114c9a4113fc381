/**
 * Slurm executor: a pod becomes a batch script (slurm-script.ts), submitted with sbatch. One squeue
 * call per interval follows every session of the site (read by slurm-states.ts); scancel stops one.
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import type { SiteHealth } from '@jupyterlab-interlink/contract';
import { asAccount, cannotRunAs, handOver, runAsOf } from '../accounts.js';
import { DriverError } from '../errors.js';
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
  type LogOptions,
  type PodBundle,
  type SiteConfig
} from '../types.js';
import { isFinal, PollingDriver, readSavedJson, type PolledSession } from './core.js';
import { envFile, renderJobScript } from './slurm-script.js';
import {
  mapSlurmState,
  parseSinfo,
  parseSqueue,
  QUEUED,
  RUNNING,
  type SqueueRow
} from './slurm-states.js';

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

const PASS_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'USER', 'LOGNAME', 'SLURM_CONF'];
const SQUEUE_FORMAT = '%i|%t|%r|%S';

/**
 * HOME, USER and LOGNAME as a login to the job's account has them, from the pod (pod.ts sets
 * them on its containers): the batch script runs in sbatch's environment before the containers'
 * own, and a site's pre-exec (`module load`, `~/.bashrc`) looks there.
 */
function loginEnv(pod: V1Pod): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of pod.spec?.containers[0]?.env ?? []) {
    if (LOGIN_ENV.includes(e.name) && e.value !== undefined) env[e.name] = e.value;
  }
  return env;
}
const LOGIN_ENV = ['HOME', 'USER', 'LOGNAME'];

interface SlurmSession extends PolledSession {
  dir: string;
  jobId?: string;
  deleted: boolean;
  /** The Secrets' values, kept out of failure reasons (unknown after a re-adoption). */
  secrets: string[];
}

interface Exec {
  stdout: string;
  stderr: string;
  code: number;
}

export class SlurmDriver extends PollingDriver<SlurmSession> {
  readonly kind = 'slurm' as const;
  readonly stats: SlurmCallStats = { sbatch: 0, squeue: 0, scancel: 0, polls: 0, pollMs: 0 };
  private readonly workDir: string;
  private readonly env: Record<string, string>;

  constructor(site: SiteConfig, options: SlurmDriverOptions = {}) {
    super(site, options.pollIntervalMs ?? 1000);
    this.workDir =
      site.slurm?.workDir ?? options.workDir ?? join(tmpdir(), 'interlink-slurm-jobs', site.id);
    const env: Record<string, string> = {};
    for (const k of PASS_ENV) if (process.env[k] !== undefined) env[k] = process.env[k]!;
    if (site.slurm?.conf) env.SLURM_CONF = site.slurm.conf;
    this.env = { ...env, ...options.env };
  }

  private run(
    cmd: string,
    args: string[],
    cwd?: string,
    env?: Record<string, string>
  ): Promise<Exec> {
    return new Promise(resolve => {
      execFile(
        cmd,
        args,
        { env: { ...this.env, ...env }, cwd, timeout: 30000, maxBuffer: 64 * 1024 * 1024 },
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

  /** The jobs of earlier runs, from their directories. */
  protected async readSaved(): Promise<Omit<SlurmSession, 'misses' | 'expiring'>[]> {
    // a directory without session.json is not a submitted job
    const found = await readSavedJson<{ jobId: string; pod: V1Pod }>(this.workDir, name =>
      join(this.workDir, name, 'session.json')
    );
    return found.map(({ entry: name, saved }) => ({
      id: name,
      pod: saved.pod,
      dir: join(this.workDir, name),
      jobId: saved.jobId,
      status: { phase: 'pending', backendId: saved.jobId },
      deleted: false,
      secrets: []
    }));
  }

  async create(bundle: PodBundle): Promise<{ backendId: string }> {
    const id = this.sessions.claim(bundle.pod, this.closed);
    const runAs = runAsOf(bundle.pod);
    const cannot = runAs && cannotRunAs(this.site, runAs);
    if (cannot) throw new DriverError('Invalid', cannot);
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
    const submit = ['sbatch', '--parsable', join(dir, 'job.slurm')];
    if (runAs) {
      // Submitted by the account itself (as a submit host's sudo rule would), so Slurm runs,
      // accounts and shows the job as that user. What the job writes is made here and given to
      // it; session.json, the driver's record, stays ours beside them.
      const written = [
        'job.out',
        ...(spec.initContainers ?? []).map(c => `init-${c.name}.status`),
        ...spec.containers.map(c => `run-${c.name}.status`)
      ];
      for (const name of written) await writeFile(join(dir, name), '', { mode: 0o600 });
      const files = await readdir(dir);
      await handOver(
        files.map(name => join(dir, name)),
        [dirname(this.workDir), this.workDir, dir],
        runAs
      );
    }
    this.stats.sbatch++;
    const command = runAs ? asAccount(submit, runAs) : submit;
    // sbatch hands its environment to the batch script: the account's, not the service's.
    const out = await this.run(command[0], command.slice(1), dir, runAs && loginEnv(bundle.pod));
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
    this.track(s);
    return { backendId: jobId };
  }

  async delete(sessionId: string): Promise<void> {
    const s = this.sessions.get(sessionId);
    if (!s || s.status.phase === 'gone') return;
    s.deleted = true;
    if (s.jobId && !isFinal(s.status.phase)) {
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
    const s = this.sessions.require(sessionId);
    return this.logFile(s, join(s.dir, 'job.out'), options);
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

  /** One squeue for every live session of the site. */
  protected async pollRound(live: SlurmSession[]): Promise<void> {
    this.stats.polls++;
    this.stats.squeue++;
    const t0 = performance.now();
    try {
      await this.pollJobs(live.filter(s => s.jobId));
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
      this.healthReport.report({
        status: 'degraded',
        message: `squeue: ${out.stderr.trim()}`,
        checkedAt: new Date().toISOString()
      });
      return;
    }
    this.healthReport.report({ status: 'ok', checkedAt: new Date().toISOString() });
    const rows = new Map(parseSqueue(out.code === 0 ? out.stdout : '').map(r => [r.jobId, r]));
    await Promise.all(
      live.map(async s => {
        const row = rows.get(s.jobId!);
        if (!row) return this.missing(s);
        let status: BackendStatus;
        if (QUEUED.has(row.state) || RUNNING.has(row.state)) {
          status = mapSlurmState(row);
        } else {
          status = await this.finalStatus(s, row);
        }
        if (s.deleted) return;
        // our deadline's scancel ends it as CA
        await this.observe(s, status, status.phase === 'failed' && row.state === 'CA');
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
      this.setStatus(s, status);
      return;
    }
    this.lost(s, `Slurm no longer knows job ${s.jobId}`);
  }

  /** For the deadline: Slurm's --time counts whole minutes. */
  protected async cancel(s: SlurmSession): Promise<void> {
    this.stats.scancel++;
    await this.run('scancel', [s.jobId!]);
  }

  protected override setStatus(s: SlurmSession, status: BackendStatus): boolean {
    const changed = this.sessions.setStatus(s, status);
    if (changed && status.phase !== 'gone' && isFinal(status.phase)) {
      // nothing runs any more: the secret files go
      void rm(join(s.dir, 'volumes'), { recursive: true, force: true });
    }
    return changed;
  }

  /** The job id of a session, for tests and diagnostics. */
  jobId(sessionId: string): string | undefined {
    return this.sessions.get(sessionId)?.jobId;
  }
}
