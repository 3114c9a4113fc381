/**
 * Usage, for the people it belongs to.
 * - Live: while a user has an event stream open, the agents of their ready kernel sessions are
 *   asked for their node's usage every few seconds (one request per session, whoever many tabs
 *   watch), and each answer is pushed to that user's streams. Nobody watching: nobody is asked.
 * - This month: GPU-hours and core-hours per user and site, from the sessions' records: ended
 *   sessions in a file of the state folder (so a restart forgets nothing), running ones so far.
 *   A site may name a budget command (`budget.command`, `{username}` filled in): its first line
 *   of output is shown beside the figures, as it says it.
 */
import { execFile } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NodeUsage, Session, SiteUsage, UsageSummary } from '@jupyterlab-interlink/contract';
import type { SiteConfig } from '@jupyterlab-interlink/vk-bridge';

/** One session's share of a month, as written when it ends. */
interface UsageRecord {
  owner: string;
  site: string;
  startedAt: string;
  endedAt: string;
  gpus: number;
  cores: number;
}

const RECORDS = 'usage.jsonl';

/** `2026-12` of a date, in UTC. */
export function monthOf(date: Date): string {
  return date.toISOString().slice(0, 7);
}

/** Hours of [start, end) that fall in `month`. */
export function hoursIn(month: string, start: number, end: number): number {
  const from = Date.parse(`${month}-01T00:00:00Z`);
  const next = new Date(from);
  next.setUTCMonth(next.getUTCMonth() + 1);
  const ms = Math.min(end, next.getTime()) - Math.max(start, from);
  return ms > 0 ? ms / 3_600_000 : 0;
}

export interface UsageWatchOptions {
  sites: SiteConfig[];
  stateDir: string;
  /** The caller's sessions, live ones included. */
  sessionsOf(owner: string): Session[];
  /** GET on a session's agent through its tunnel. */
  ask(sessionId: string): Promise<unknown>;
  intervalMs?: number;
}

export class UsageWatch extends EventEmitter<{
  usage: [owner: string, id: string, usage: NodeUsage];
}> {
  private readonly watchers = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  private readonly sites = new Map<string, SiteConfig>();

  constructor(private readonly options: UsageWatchOptions) {
    super();
    for (const site of options.sites) this.sites.set(site.id, site);
    this.timer = setInterval(() => void this.sample(), options.intervalMs ?? 5_000);
    this.timer.unref();
  }

  /** A stream of `owner` opened; the returned function closes it. */
  watch(owner: string): () => void {
    this.watchers.set(owner, (this.watchers.get(owner) ?? 0) + 1);
    return () => {
      const n = (this.watchers.get(owner) ?? 1) - 1;
      if (n > 0) this.watchers.set(owner, n);
      else this.watchers.delete(owner);
    };
  }

  private async sample(): Promise<void> {
    const asks: Promise<void>[] = [];
    for (const owner of this.watchers.keys()) {
      for (const s of this.options.sessionsOf(owner)) {
        if (s.type !== 'kernel' || s.state !== 'ready') continue;
        asks.push(
          this.options.ask(s.id).then(
            usage => void this.emit('usage', owner, s.id, usage as NodeUsage),
            () => undefined // the tunnel is down: the session's own state says so
          )
        );
      }
    }
    await Promise.all(asks);
  }

  /** Records an ended session's share (it had started). */
  async ended(session: Session): Promise<void> {
    const profile = this.sites.get(session.site)?.profiles.find(p => p.id === session.profile);
    if (!session.startedAt || !profile) return;
    const record: UsageRecord = {
      owner: session.owner,
      site: session.site,
      startedAt: session.startedAt,
      endedAt: session.updatedAt,
      gpus: profile.resources.gpu,
      cores: profile.resources.cpu
    };
    await appendFile(join(this.options.stateDir, RECORDS), JSON.stringify(record) + '\n', {
      mode: 0o600
    });
  }

  /** The caller's GPU-hours and core-hours this month on each site, and their budgets. */
  async summary(owner: string, now = new Date()): Promise<UsageSummary> {
    const month = monthOf(now);
    const totals = new Map<string, { gpuHours: number; coreHours: number }>();
    const add = (site: string, start: number, end: number, gpus: number, cores: number) => {
      const hours = hoursIn(month, start, end);
      const t = totals.get(site) ?? { gpuHours: 0, coreHours: 0 };
      t.gpuHours += hours * gpus;
      t.coreHours += hours * cores;
      totals.set(site, t);
    };
    let text = '';
    try {
      text = await readFile(join(this.options.stateDir, RECORDS), 'utf8');
    } catch {
      // no session has ended yet
    }
    for (const line of text.split('\n')) {
      if (!line) continue;
      const r = JSON.parse(line) as UsageRecord;
      if (r.owner === owner)
        add(r.site, Date.parse(r.startedAt), Date.parse(r.endedAt), r.gpus, r.cores);
    }
    for (const s of this.options.sessionsOf(owner)) {
      const profile = this.sites.get(s.site)?.profiles.find(p => p.id === s.profile);
      if (
        !s.startedAt ||
        !profile ||
        ['completed', 'failed', 'cancelled', 'expired'].includes(s.state)
      )
        continue;
      add(
        s.site,
        Date.parse(s.startedAt),
        now.getTime(),
        profile.resources.gpu,
        profile.resources.cpu
      );
    }
    const sites: SiteUsage[] = await Promise.all(
      this.options.sites.map(async site => {
        const t = totals.get(site.id) ?? { gpuHours: 0, coreHours: 0 };
        // to the 1/10,000 hour (0.36 s): the UI rounds for display
        const round = (n: number) => Math.round(n * 10_000) / 10_000;
        const budget = site.budget ? await budgetOf(site, owner) : undefined;
        return {
          site: site.id,
          gpuHours: round(t.gpuHours),
          coreHours: round(t.coreHours),
          ...(budget ? { budget } : {})
        };
      })
    );
    return { month, sites };
  }

  close(): void {
    clearInterval(this.timer);
  }
}

/** The first line the site's budget command prints for the user, or what went wrong. */
function budgetOf(site: SiteConfig, owner: string): Promise<string> {
  const [cmd, ...args] = site.budget!.command.map(a => a.replaceAll('{username}', owner));
  return new Promise(resolve => {
    execFile(cmd, args, { timeout: 10_000 }, (err, stdout) => {
      const line = String(stdout).split('\n')[0].trim();
      resolve(err ? `budget unknown (${cmd} failed)` : line);
    });
  });
}
