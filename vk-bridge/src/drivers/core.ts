/**
 * What the drivers share: the final phases, one table of sessions that reports each change once,
 * site health reported on change, the walltime deadline, the "three misses mean failed" rule,
 * re-adoption from a state folder, and one polling loop whose rounds start an interval apart.
 * A driver keeps only what its backend does differently.
 */
import { EventEmitter } from 'node:events';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { V1Pod } from '@kubernetes/client-node';
import type { SiteHealth } from '@jupyterlab-interlink/contract';
import { DriverError, sessionIdOf } from '../errors.js';
import { fileLogStream } from '../logfile.js';
import type {
  BackendPhase,
  BackendStatus,
  Driver,
  DriverEvents,
  LogOptions,
  ObservedPod,
  PodBundle,
  SiteConfig
} from '../types.js';

/** Phases a session does not leave, but for `gone` once it is deleted. */
export const FINAL_PHASES: ReadonlySet<BackendPhase> = new Set(['succeeded', 'failed', 'gone']);

export function isFinal(phase: BackendPhase): boolean {
  return FINAL_PHASES.has(phase);
}

/** Every driver's create begins here: no create on a closed driver, and only for a pod of ours. */
export function createPreamble(pod: V1Pod, closed: boolean): string {
  if (closed) throw new DriverError('Unavailable', 'driver is closed');
  return sessionIdOf(pod);
}

/** One session as a driver follows it. */
export interface TrackedSession {
  id: string;
  status: BackendStatus;
}

/** The sessions of one site: lookup, the create preamble, and one `update` event per change. */
export class SessionTable<S extends TrackedSession> {
  private readonly byId = new Map<string, S>();

  constructor(
    private readonly driver: EventEmitter<DriverEvents>,
    private readonly siteId: string
  ) {}

  /** A new pod's session id; refused on a closed driver and for a session that is still there. */
  claim(pod: V1Pod, closed: boolean): string {
    const id = createPreamble(pod, closed);
    const existing = this.byId.get(id);
    if (existing && existing.status.phase !== 'gone')
      throw new DriverError('AlreadyExists', `session ${id} already exists`);
    return id;
  }

  /** A created session: kept and announced. */
  add(s: S): void {
    this.byId.set(s.id, s);
    this.driver.emit('update', s.id, { ...s.status });
  }

  /** A re-adopted session: kept, announced by start()'s answer. */
  adopt(s: S): void {
    this.byId.set(s.id, s);
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  get(id: string): S | undefined {
    return this.byId.get(id);
  }

  /** The session, or NotFound naming the site. */
  require(id: string): S {
    const s = this.byId.get(id);
    if (!s) throw new DriverError('NotFound', `no session ${id} on site ${this.siteId}`);
    return s;
  }

  ids(): string[] {
    return [...this.byId.keys()];
  }

  all(): S[] {
    return [...this.byId.values()];
  }

  /** Sessions not in a final phase. */
  live(): S[] {
    return this.all().filter(s => !isFinal(s.status.phase));
  }

  clear(): void {
    this.byId.clear();
  }

  /**
   * A new status, announced when it differs; a final one is left only for `gone`.
   * True when it changed.
   */
  setStatus(s: S, status: BackendStatus): boolean {
    if (isFinal(s.status.phase) && status.phase !== 'gone') return false;
    if (JSON.stringify(status) === JSON.stringify(s.status)) return false;
    s.status = status;
    this.driver.emit('update', s.id, { ...status });
    return true;
  }
}

/** start()'s answer for sessions that keep their pod. */
export function observedOf(
  sessions: { id: string; pod: V1Pod; status: BackendStatus }[]
): ObservedPod[] {
  return sessions.map(s => ({ sessionId: s.id, pod: s.pod, status: { ...s.status } }));
}

/** `health` events on change only, not once per poll; a first `ok` is no news. */
export class HealthReport {
  private last?: string;

  constructor(private readonly driver: EventEmitter<DriverEvents>) {}

  report(h: SiteHealth): void {
    const key = `${h.status}:${h.message ?? ''}`;
    if (key === this.last) return;
    const first = this.last === undefined;
    this.last = key;
    if (!first || h.status !== 'ok') this.driver.emit('health', h);
  }
}

/** The pod's activeDeadlineSeconds have run out since it started. */
export function deadlinePassed(pod: V1Pod, status: BackendStatus, now = Date.now()): boolean {
  const deadlineSeconds = pod.spec?.activeDeadlineSeconds;
  if (!deadlineSeconds || !status.startedAt) return false;
  return now - Date.parse(status.startedAt) >= deadlineSeconds * 1000;
}

/** What a session stopped for its deadline ends as. */
export function deadlineExceeded(status: BackendStatus): BackendStatus {
  return { ...status, phase: 'failed', reason: 'DeadlineExceeded', expired: true };
}

/** Polls in a row a backend may leave a live session out of its answer before it counts as lost. */
export const MISSES_TO_FAIL = 3;
/** A re-adopted session is one miss short: a backend that forgot it while we were down fails it at once. */
export const ADOPTED_MISSES = MISSES_TO_FAIL - 1;

/** One more poll without the session; true when that makes it lost. */
export function missed(s: { misses: number }): boolean {
  return ++s.misses >= MISSES_TO_FAIL;
}

/**
 * Re-adoption: every entry of a driver's state folder that `load` can read (it throws for one
 * that is not a saved session), in the folder's order. The folder is made when missing.
 */
export async function readStateFolder<T>(
  dir: string,
  load: (entry: string) => Promise<T>,
  unreadable?: (entry: string) => Promise<void>
): Promise<{ entry: string; saved: T }[]> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const found: { entry: string; saved: T }[] = [];
  for (const entry of await readdir(dir)) {
    try {
      found.push({ entry, saved: await load(entry) });
    } catch {
      await unreadable?.(entry);
    }
  }
  return found;
}

export async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

/** Re-adoption of drivers that save one JSON file per session: `pathOf` names it (or throws). */
export function readSavedJson<T>(
  dir: string,
  pathOf: (entry: string) => string
): Promise<{ entry: string; saved: T }[]> {
  return readStateFolder(dir, entry => readJson<T>(pathOf(entry)));
}

/**
 * One poll of every live session per round, rounds starting one interval apart (not an interval
 * after the last one ended), so a change waits at most an interval plus one backend call.
 * A round runs only while `wanted()` (something is live); concurrent callers share one round.
 */
export class Poller {
  private timer?: NodeJS.Timeout;
  private round?: Promise<void>;
  private lastStart = -Infinity;
  private closed = false;

  constructor(
    private readonly intervalMs: number,
    private readonly pollRound: () => Promise<void>,
    private readonly wanted: () => boolean
  ) {}

  /** A round now, or the one under way. */
  poll(): Promise<void> {
    if (!this.round) {
      if (!this.wanted()) return Promise.resolve();
      this.lastStart = performance.now();
      this.round = this.pollRound().finally(() => {
        this.round = undefined;
      });
    }
    return this.round;
  }

  /** The next round, an interval after the last one started; rounds go on while wanted. */
  schedule(): void {
    if (this.closed || this.timer) return;
    const since = performance.now() - this.lastStart;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        void this.poll().finally(() => {
          if (this.wanted()) this.schedule();
        });
      },
      Math.max(0, this.intervalMs - since)
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.round;
  }
}

/** A driver that keeps its sessions in a table: the local executor and the polling drivers. */
export abstract class TableDriver<S extends TrackedSession>
  extends EventEmitter<DriverEvents>
  implements Driver
{
  abstract readonly kind: SiteConfig['driver'];
  protected readonly sessions: SessionTable<S>;
  protected closed = false;

  constructor(readonly site: SiteConfig) {
    super();
    this.sessions = new SessionTable(this, site.id);
  }

  abstract start(): Promise<ObservedPod[]>;
  abstract create(bundle: PodBundle): Promise<{ backendId: string }>;
  abstract delete(sessionId: string): Promise<void>;
  abstract logs(sessionId: string, options?: LogOptions): Promise<Readable>;
  abstract health(): Promise<SiteHealth>;
  abstract close(): Promise<void>;

  sessionIds(): string[] {
    return this.sessions.ids();
  }

  /** A session's log file, followed until the session ends (or the driver closes: its readers end too). */
  protected logFile(s: S, path: string, options: LogOptions): Readable {
    return fileLogStream(path, {
      ...options,
      isDone: () => isFinal(s.status.phase) || this.closed
    });
  }
}

/** A session of a backend that is asked for its status in rounds. */
export interface PolledSession extends TrackedSession {
  pod: V1Pod;
  /** polls in a row that did not list it */
  misses: number;
  /** the driver cancelled it for its deadline */
  expiring: boolean;
}

/**
 * The core of the polling drivers (interlink, slurm): re-adoption, one backend call per round for
 * every live session, the lost-session rule and the deadline. A backend supplies its saved
 * sessions, its round and its cancel.
 */
export abstract class PollingDriver<S extends PolledSession> extends TableDriver<S> {
  protected readonly poller: Poller;
  protected readonly healthReport = new HealthReport(this);

  constructor(site: SiteConfig, intervalMs: number) {
    super(site);
    this.poller = new Poller(
      intervalMs,
      () => this.pollRound(this.sessions.live()),
      () => this.sessions.live().length > 0
    );
  }

  /** The sessions earlier runs left in the state folder. */
  protected abstract readSaved(): Promise<Omit<S, 'misses' | 'expiring'>[]>;
  /** One backend call for every live session; each answer goes to observe() or lost(). */
  protected abstract pollRound(live: S[]): Promise<void>;
  /** Stops the session's job on the backend, for its deadline. */
  protected abstract cancel(s: S): Promise<void>;

  /** Re-adopts what earlier runs submitted, polls it once, then follows everything. */
  async start(): Promise<ObservedPod[]> {
    for (const saved of await this.readSaved()) {
      if (this.sessions.has(saved.id)) continue;
      this.sessions.adopt({ ...saved, misses: ADOPTED_MISSES, expiring: false } as S);
    }
    await this.poller.poll();
    this.poller.schedule();
    return observedOf(this.sessions.all());
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.poller.close();
  }

  /** A created session: announced and followed. */
  protected track(s: S): void {
    this.sessions.add(s);
    this.poller.schedule();
  }

  /** The one way a status changes; true when it did. */
  protected setStatus(s: S, status: BackendStatus): boolean {
    return this.sessions.setStatus(s, status);
  }

  /**
   * What the backend said of a session. `cancelled`: it ended the way our deadline cancel ends
   * it, so it expired. A running session's deadline is checked here.
   */
  protected async observe(s: S, status: BackendStatus, cancelled: boolean): Promise<void> {
    s.misses = 0;
    const seen = s.expiring && cancelled ? deadlineExceeded(status) : status;
    this.setStatus(s, seen);
    if (seen.phase === 'running') await this.enforceDeadline(s);
  }

  /** The backend's answer left the session out: after MISSES_TO_FAIL polls it failed with `reason`. */
  protected lost(s: S, reason: string): void {
    if (missed(s)) this.setStatus(s, { ...s.status, phase: 'failed', reason });
  }

  /** activeDeadlineSeconds, to the second: a remote batch system only knows whole minutes. */
  private async enforceDeadline(s: S): Promise<void> {
    if (s.expiring || !deadlinePassed(s.pod, s.status)) return;
    s.expiring = true;
    await this.cancel(s);
    this.setStatus(s, deadlineExceeded(s.status));
  }
}
