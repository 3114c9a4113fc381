import type {
  CreateSessionRequest,
  NodeUsage,
  Session,
  Site,
  UsageSummary
} from '@jupyterlab-interlink/contract';
import { ServerConnection } from '@jupyterlab/services';
import { PromiseDelegate, Token } from '@lumino/coreutils';
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';
import { ApiError, InterlinkApi } from './api';
import { readEventStream } from './eventstream';
import { SessionList, type SessionListChange } from './sessionlist';

/** A session change: `previous` is undefined the first time the session is seen. */
export interface ISessionChange {
  session: Session;
  previous?: Session;
}

export type StreamStatus = 'connecting' | 'live' | 'retrying';

/**
 * The caller's sites and sessions, kept current by the proxy server's event stream.
 */
export interface IInterlink {
  readonly api: InterlinkApi;
  readonly sites: readonly Site[];
  readonly sessions: readonly Session[];
  readonly sitesError: string | null;
  /** The first answer about sites (or a failure) has arrived. */
  readonly sitesLoaded: boolean;
  readonly streamStatus: StreamStatus;
  /** Resolves once the first list of sessions is known (or after a short timeout). */
  readonly ready: Promise<void>;
  readonly changed: ISignal<IInterlink, void>;
  readonly sessionChanged: ISignal<IInterlink, ISessionChange>;
  readonly sessionRemoved: ISignal<IInterlink, Session>;
  session(id: string): Session | undefined;
  site(id: string): Site | undefined;
  /** The latest figures of a ready kernel session's node, pushed while this page listens. */
  usage(id: string): NodeUsage | undefined;
  /** The caller's GPU-hours and core-hours this month, per site, and their budgets. */
  readonly monthUsage: UsageSummary | null;
  launch(request: CreateSessionRequest): Promise<Session>;
  stop(id: string): Promise<void>;
  /** Keeps an idle kernel session running (its site's idle limit starts again). */
  keep(id: string): Promise<void>;
  refreshSites(): Promise<void>;
}

export const IInterlink = new Token<IInterlink>(
  '@jupyterlab-interlink/extension:IInterlink',
  'Sites and sessions of the interLink proxy server, live.'
);

export class InterlinkModel implements IInterlink, IDisposable {
  constructor(serverSettings: ServerConnection.ISettings) {
    this.api = new InterlinkApi(serverSettings);
    void this.refreshSites();
    void this._initialSessions();
    void this._refreshMonth();
    void this._follow();
    // The app must not wait long for a proxy server that is absent.
    setTimeout(() => this._ready.resolve(), 4000);
  }

  readonly api: InterlinkApi;

  get sites(): readonly Site[] {
    return this._sites;
  }
  get sessions(): readonly Session[] {
    return this._sessions.all;
  }
  get sitesError(): string | null {
    return this._sitesError;
  }
  get sitesLoaded(): boolean {
    return this._sitesLoaded;
  }
  get streamStatus(): StreamStatus {
    return this._streamStatus;
  }
  get ready(): Promise<void> {
    return this._ready.promise;
  }
  get changed(): ISignal<this, void> {
    return this._changed;
  }
  get sessionChanged(): ISignal<this, ISessionChange> {
    return this._sessionChanged;
  }
  get sessionRemoved(): ISignal<this, Session> {
    return this._sessionRemoved;
  }
  get isDisposed(): boolean {
    return this._abort.signal.aborted;
  }

  session(id: string): Session | undefined {
    return this._sessions.get(id);
  }
  site(id: string): Site | undefined {
    return this._sites.find(s => s.id === id);
  }

  async launch(request: CreateSessionRequest): Promise<Session> {
    const session = await this.api.create(request);
    this._apply(this._sessions.upsert(session));
    return session;
  }

  async stop(id: string): Promise<void> {
    await this.api.stop(id);
  }

  async keep(id: string): Promise<void> {
    this._apply(this._sessions.upsert(await this.api.keep(id)));
  }

  async refreshSites(): Promise<void> {
    try {
      this._sites = await this.api.sites();
      this._sitesError = null;
    } catch (err) {
      const status = err instanceof ApiError ? err.status : 0;
      this._sitesError =
        status === 0 || status === 404 || status >= 502
          ? `the interLink service does not answer at ${this.api.base} (${(err as Error).message})`
          : (err as Error).message;
    }
    this._sitesLoaded = true;
    this._changed.emit();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._abort.abort();
    Signal.clearData(this);
  }

  private async _initialSessions(): Promise<void> {
    try {
      this._apply(this._sessions.replaceAll(await this.api.sessions()));
    } catch {
      // the event stream will bring them when the server answers
    }
    this._ready.resolve();
  }

  /** Follows `GET api/events`, reconnecting with backoff. */
  private async _follow(): Promise<void> {
    let delay = 1000;
    while (!this.isDisposed) {
      this._setStreamStatus('connecting');
      try {
        const response = await this.api.events(this._abort.signal);
        if (!response.body) {
          throw new Error('no body');
        }
        this._setStreamStatus('live');
        delay = 1000;
        await readEventStream(response.body, (event, data) => {
          let payload: unknown;
          try {
            payload = JSON.parse(data);
          } catch {
            return;
          }
          if (event === 'session') {
            this._apply(this._sessions.upsert(payload as Session));
          } else if (event === 'usage') {
            const { id, usage } = payload as { id: string; usage: NodeUsage };
            this._usage.set(id, usage);
            this._changed.emit();
          } else if (event === 'session-removed') {
            this._apply(this._sessions.remove((payload as { id: string }).id));
          } else if (event === 'sites') {
            this._sites = payload as Site[];
            this._sitesError = null;
            this._sitesLoaded = true;
            this._changed.emit();
          }
        });
      } catch {
        // dropped or refused: retry below
      }
      if (this.isDisposed) {
        return;
      }
      this._setStreamStatus('retrying');
      await new Promise(resolve => setTimeout(resolve, delay + Math.random() * 500));
      delay = Math.min(delay * 2, 30000);
      // State may have moved while we were away (sessions gone from the list are gone).
      try {
        this._apply(this._sessions.replaceAll(await this.api.sessions()));
      } catch {
        // still away
      }
    }
  }

  private _setStreamStatus(status: StreamStatus): void {
    if (this._streamStatus !== status) {
      this._streamStatus = status;
      this._changed.emit();
    }
  }

  usage(id: string): NodeUsage | undefined {
    return this.session(id)?.state === 'ready' ? this._usage.get(id) : undefined;
  }

  get monthUsage(): UsageSummary | null {
    return this._monthUsage;
  }

  /** The month's figures move when a session starts or ends: asked again then, not polled. */
  private async _refreshMonth(): Promise<void> {
    try {
      this._monthUsage = await this.api.usage();
      this._changed.emit();
    } catch {
      // an older server, or away: the site cards leave the line out
    }
  }

  private _apply(changes: SessionListChange[]): void {
    if (changes.some(c => c.kind === 'changed' && c.previous?.state !== c.session.state)) {
      void this._refreshMonth();
    }
    for (const change of changes) {
      if (change.kind === 'changed') {
        this._sessionChanged.emit({ session: change.session, previous: change.previous });
      } else {
        this._sessionRemoved.emit(change.session);
      }
      this._changed.emit();
    }
  }

  private _sites: Site[] = [];
  private _sitesError: string | null = null;
  private _sitesLoaded = false;
  private _sessions = new SessionList();
  private _usage = new Map<string, NodeUsage>();
  private _monthUsage: UsageSummary | null = null;
  private _streamStatus: StreamStatus = 'connecting';
  private _ready = new PromiseDelegate<void>();
  private _abort = new AbortController();
  private _changed = new Signal<this, void>(this);
  private _sessionChanged = new Signal<this, ISessionChange>(this);
  private _sessionRemoved = new Signal<this, Session>(this);
}
