/**
 * A site's idle limit (`idle` in the site file): when a kernel session's kernels were last busy,
 * read from its remote Jupyter server's `GET api/kernels` (each kernel's `execution_state` and
 * `last_activity`, the fields jupyter_server's own culling reads), and what follows from that.
 * Pure: the session manager asks, acts and pushes.
 */
import type { SiteConfig } from '@jupyterlab-interlink/vk-bridge';

interface RemoteKernel {
  execution_state?: string;
  last_activity?: string;
}

/** Warn this long before the stop, unless the site says: a quarter of the limit, at most 10 min. */
export function warnBeforeSeconds(idle: NonNullable<SiteConfig['idle']>): number {
  return idle.warnBefore ?? Math.min(600, Math.floor(idle.limit / 4));
}

/**
 * When the session was last active, given what its server says now: `now` while a kernel is
 * busy (or starting), else the latest kernel activity, never earlier than `previous` (the start
 * of the session, or the user's "keep running").
 */
export function lastActive(kernels: unknown, previous: number, now: number): number {
  if (!Array.isArray(kernels)) return previous;
  let latest = previous;
  for (const k of kernels as RemoteKernel[]) {
    if (k.execution_state && k.execution_state !== 'idle') return now;
    const at = Date.parse(k.last_activity ?? '');
    if (Number.isFinite(at) && at > latest) latest = at;
  }
  return Math.min(latest, now);
}

export type IdleVerdict =
  | { kind: 'active' }
  | { kind: 'warn'; since: number; stopsAt: number }
  | { kind: 'stop'; reason: string };

export function idleVerdict(
  idle: NonNullable<SiteConfig['idle']>,
  since: number,
  now: number,
  words: (seconds: number) => string
): IdleVerdict {
  const stopsAt = since + idle.limit * 1000;
  if (now >= stopsAt) {
    return {
      kind: 'stop',
      reason: `stopped after ${words(idle.limit)} without kernel activity (the site's idle limit)`
    };
  }
  if (now >= stopsAt - warnBeforeSeconds(idle) * 1000) return { kind: 'warn', since, stopsAt };
  return { kind: 'active' };
}
