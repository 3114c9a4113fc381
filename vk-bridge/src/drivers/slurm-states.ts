/**
 * What Slurm's commands print, read: squeue rows and their compact states as our phases (the way
 * interLink's Slurm plugin maps them), and sinfo's nodes as the site's health.
 */
import type { SiteHealth } from '@jupyterlab-interlink/contract';
import type { BackendStatus } from '../types.js';

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

export const QUEUED = new Set(['PD', 'CF', 'RQ', 'RF', 'RH', 'RD', 'S', 'ST']);
export const RUNNING = new Set(['R', 'CG', 'SI', 'SO', 'RS']);
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
