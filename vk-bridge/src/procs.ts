/**
 * Finding every process of a local session through /proc: its process groups, their descendants
 * (kernels start their own session, so a process group alone misses them) and anything that still
 * carries the session's environment tag after being reparented.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ProcInfo {
  pid: number;
  ppid: number;
  pgid: number;
  sid: number;
  state: string;
  starttime: string;
}

export function readStat(pid: number): ProcInfo | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // comm may hold spaces and parentheses: fields start after the last ')'
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return {
    pid,
    state: rest[0],
    ppid: Number(rest[1]),
    pgid: Number(rest[2]),
    sid: Number(rest[3]),
    starttime: rest[19]
  };
}

/** Alive and not a zombie (PID 1 here reaps late, so zombies linger and `kill -0` still works). */
export function isAlive(pid: number): boolean {
  const s = readStat(pid);
  return s !== null && s.state !== 'Z' && s.state !== 'X';
}

export function listProcesses(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (s) out.push(s);
  }
  return out;
}

export interface ProcessSet {
  /** pids (= process group and session ids, spawned detached) of the containers we started */
  roots: number[];
  /** `NAME=value` in the environment of every process of the session */
  tag: string;
}

/** The live processes of a session, zombies excluded. */
export function findProcesses(set: ProcessSet): ProcInfo[] {
  const all = listProcesses().filter(
    p => p.state !== 'Z' && p.state !== 'X' && p.pid !== process.pid
  );
  const roots = new Set(set.roots);
  const found = new Map<number, ProcInfo>();
  for (const p of all) {
    if (roots.has(p.pid) || roots.has(p.pgid) || roots.has(p.sid)) found.set(p.pid, p);
  }
  const children = new Map<number, ProcInfo[]>();
  for (const p of all) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const queue = [...found.values()];
  while (queue.length) {
    for (const c of children.get(queue.pop()!.pid) ?? []) {
      if (!found.has(c.pid)) {
        found.set(c.pid, c);
        queue.push(c);
      }
    }
  }
  const tag = Buffer.from(`\0${set.tag}\0`);
  const tagAtStart = Buffer.from(`${set.tag}\0`);
  for (const p of all) {
    if (found.has(p.pid)) continue;
    try {
      const env = readFileSync(`/proc/${p.pid}/environ`);
      if (env.includes(tag) || env.subarray(0, tagAtStart.length).equals(tagAtStart))
        found.set(p.pid, p);
    } catch {
      // gone already, or not ours to read
    }
  }
  return [...found.values()];
}

function signalAll(procs: ProcInfo[], signal: NodeJS.Signals): void {
  for (const p of procs) {
    // the same pid must still be the same process (pids are reused)
    const now = readStat(p.pid);
    if (!now || now.starttime !== p.starttime) continue;
    try {
      process.kill(p.pid, signal);
    } catch {
      // already gone
    }
  }
}

/**
 * SIGTERM to every process of the session, SIGKILL to whatever is left after `graceMs`, repeated
 * until nothing of it lives (a process may fork while it dies).
 */
export async function terminateAll(set: ProcessSet, graceMs: number): Promise<void> {
  const seen = new Map<number, ProcInfo>();
  const refresh = () => {
    for (const p of findProcesses(set)) seen.set(p.pid, p);
    for (const [pid, p] of seen) {
      const now = readStat(pid);
      if (!now || now.starttime !== p.starttime || now.state === 'Z' || now.state === 'X')
        seen.delete(pid);
    }
    return [...seen.values()];
  };
  let procs = refresh();
  if (procs.length === 0) return;
  signalAll(procs, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    await sleep(50);
    procs = refresh();
    if (procs.length === 0) return;
  }
  for (let round = 0; round < 50; round++) {
    signalAll(procs, 'SIGKILL');
    await sleep(20);
    procs = refresh();
    if (procs.length === 0) return;
  }
}
