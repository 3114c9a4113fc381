/**
 * The sessions a proxy server knows: validates launches against the sites' profiles, asks the
 * site's driver to place the pod, and turns what the backend and the tunnel report into the one
 * state users see (pending → queued → starting → ready → stopping → completed | failed | cancelled | expired).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import {
  AGENT_ENV,
  agentEnvironment,
  type AgentInfo,
  type CreateSessionRequest,
  formatWalltime,
  isFinalState,
  sessionPath,
  type ErrorBody,
  type Session,
  type SessionState,
  type Site,
  type SiteHealth
} from '@jupyterlab-interlink/contract';
import { checkLaunch, maxWalltimeOf, walltimeOf } from '@jupyterlab-interlink/contract/launch';
import {
  accountName,
  AccountHolders,
  buildPod,
  lookupAccount,
  readPodMetadata,
  ANNOTATIONS,
  type Account,
  type BackendStatus,
  type Driver,
  type LogOptions,
  type ObservedPod,
  type SiteConfig
} from '@jupyterlab-interlink/vk-bridge';
import { signPod, verifyPod } from './adoption-key.js';
import { idleVerdict, lastActive, warnBeforeSeconds } from './idle.js';
import type { Logger } from './logging.js';
import type { Caller } from './auth.js';

/** An error the API answers with as `{error, message, field?}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: ErrorBody
  ) {
    super(body.message);
  }
}

interface SessionRecord {
  session: Session;
  secretHash: Buffer;
  groups: string[];
  tunnelUp: boolean;
  /** The backend's last phase: a change may free or take accelerators. */
  phase?: BackendStatus['phase'];
  /** Kernel sessions: when their kernels were last busy, or the user kept them (ms). */
  lastActive?: number;
  /** Why we are deleting the pod ourselves: the user stopped it, or the walltime ran out. */
  ending?: { state: 'cancelled' | 'expired'; reason: string };
  expiryTimer?: NodeJS.Timeout;
}

export interface SessionManagerOptions {
  sites: SiteConfig[];
  drivers: Map<string, Driver>;
  /** `/interlink` standalone, `/services/<name>` under JupyterHub; no trailing slash. */
  basePath: string;
  /** Where agents dial: ws(s)://…{basePath}/tunnel. */
  tunnelUrl(): string;
  /** The agent's argv inside the site's job. */
  agentCommand(site: SiteConfig): string[];
  /** Extra environment for agents (HTTPS_PROXY and the like); never secrets. */
  agentEnv?: Record<string, string>;
  logger: Logger;
  /** Keep ended sessions listed this long, so a failure does not vanish (default 24 h). */
  retainEndedMs?: number;
  /** Signs the pods this server creates; only pods signed with it are re-adopted. */
  adoptionKey: Buffer;
  /** GET on a session's remote server through its tunnel (for sites with an idle limit). */
  remote?: (sessionId: string, path: string) => Promise<unknown>;
  /** How often kernel sessions on sites with an idle limit are checked (default 30 s). */
  idleCheckMs?: number;
}

export interface SessionEvents {
  changed: [session: Session];
  removed: [id: string, owner: string];
  health: [siteId: string, health: SiteHealth];
}

const hash = (secret: string): Buffer => createHash('sha256').update(secret).digest();

/** Takeovers a session keeps: the latest tell the owner what they need. */
const MAX_TAKEOVERS = 10;

/** `1234@gpu-node-7 from 10.0.0.5`: an agent as the owner reads it in a log. */
function describeAgent(agent: AgentInfo): string {
  const who = agent.pid !== undefined ? `${agent.pid}@${agent.host}` : 'an agent';
  return agent.address ? `${who} from ${agent.address}` : who;
}

export class SessionManager extends EventEmitter<SessionEvents> {
  private readonly records = new Map<string, SessionRecord>();
  private readonly health = new Map<string, SiteHealth>();
  private readonly sites = new Map<string, SiteConfig>();
  private readonly accountHolders = new AccountHolders();
  private healthTimer?: NodeJS.Timeout;
  private idleTimer?: NodeJS.Timeout;
  private readonly healthSoon = new Map<string, NodeJS.Timeout>();
  private readonly retainEndedMs: number;
  /** The tunnel endpoint plugs in here so ended sessions lose their tunnel at once. */
  onEnded: (id: string) => void = () => {};

  constructor(private readonly options: SessionManagerOptions) {
    super();
    for (const site of options.sites) this.sites.set(site.id, site);
    this.retainEndedMs = options.retainEndedMs ?? 24 * 3600 * 1000;
  }

  /** Starts every driver and re-adopts the pods they already run, so a restart loses no session. */
  async start(): Promise<void> {
    for (const site of this.options.sites) {
      const driver = this.driver(site.id);
      driver.on('update', (id, status) => this.onBackend(id, status));
      driver.on('health', health => this.setHealth(site.id, health));
      this.health.set(site.id, { status: 'unknown', message: 'not checked yet' });
      const observed = await driver.start();
      for (const pod of observed) this.adopt(site, pod);
    }
    await this.refreshHealth();
    this.healthTimer = setInterval(() => void this.refreshHealth(), 30_000);
    this.healthTimer.unref();
    const limited = this.options.sites.filter(site => site.idle);
    if (limited.length) {
      // Often enough that a warning comes on time: four checks within the shortest warning.
      const often = Math.min(...limited.map(site => (warnBeforeSeconds(site.idle!) * 1000) / 4));
      const every = this.options.idleCheckMs ?? Math.max(1_000, Math.min(30_000, often));
      this.idleTimer = setInterval(() => void this.checkIdle(), every);
      this.idleTimer.unref();
    }
  }

  async close(): Promise<void> {
    clearInterval(this.healthTimer);
    clearInterval(this.idleTimer);
    for (const timer of this.healthSoon.values()) clearTimeout(timer);
    for (const record of this.records.values()) clearTimeout(record.expiryTimer);
    await Promise.all([...this.options.drivers.values()].map(d => d.close()));
  }

  listSites(): Site[] {
    return this.options.sites.map(site => ({
      id: site.id,
      displayName: site.displayName,
      kind: site.kind,
      description: site.description,
      driver: site.driver,
      environments: site.environments?.map(({ id, displayName, description }) => ({
        id,
        displayName,
        description
      })),
      health: this.health.get(site.id) ?? { status: 'unknown' },
      profiles: site.profiles.map(p => {
        const maxWalltime = maxWalltimeOf(site, p);
        return {
          id: p.id,
          displayName: p.displayName,
          description: p.description,
          resources: { ...p.resources },
          maxWalltime,
          defaultWalltime: Math.min(p.defaultWalltime ?? 3600, maxWalltime)
        };
      })
    }));
  }

  /** Validates a launch request and hands the pod to the site's driver. */
  async create(caller: Caller, body: unknown): Promise<Session> {
    const asked = this.sites.get(String((body as { site?: unknown } | null)?.site));
    const live = [...this.records.values()].filter(
      r =>
        r.session.owner === caller.name &&
        r.session.site === asked?.id &&
        !isFinalState(r.session.state)
    ).length;
    const problem = checkLaunch(asked, body, {
      siteIds: [...this.sites.keys()],
      liveSessions: live
    });
    if (problem) throw new ApiError(problem.error === 'limit_reached' ? 429 : 400, problem);
    // checkLaunch found the site and its profile
    const request = body as CreateSessionRequest;
    const site = asked!;
    const profile = site.profiles.find(p => p.id === request.profile)!;
    const walltime = walltimeOf(site, profile, request);
    const account = await this.accountFor(site, caller);
    // checkLaunch accepted the name; none named: the site's first, if it offers any.
    const environment = request.environment
      ? site.environments!.find(e => e.id === request.environment)
      : site.environments?.[0];

    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const secretHash = hash(secret);
    const now = new Date().toISOString();
    const session: Session = {
      id,
      site: site.id,
      profile: profile.id,
      type: request.type,
      name: request.name,
      state: 'pending',
      owner: caller.name,
      createdAt: now,
      updatedAt: now,
      walltime,
      url: sessionPath(this.options.basePath, id),
      progress: [`submitting to ${site.displayName}`],
      path: request.path,
      command: request.command,
      ports: request.ports?.length ? [...request.ports] : undefined,
      environment: environment?.id
    };
    const record: SessionRecord = { session, secretHash, groups: caller.groups, tunnelUp: false };
    this.records.set(id, record);

    const bundle = buildPod({
      sessionId: id,
      site,
      profile,
      user: { name: caller.name, groups: caller.groups },
      type: request.type,
      walltime,
      createdAt: now,
      name: request.name,
      path: request.path,
      command: request.command,
      ports: session.ports,
      account,
      environment,
      agent: {
        command: this.options.agentCommand(site),
        env: agentEnvironment(
          {
            sessionId: id,
            type: request.type,
            tunnelUrl: this.options.tunnelUrl(),
            baseUrl: session.url,
            site: site.id,
            profile: profile.id,
            walltime,
            user: caller.name,
            groups: caller.groups,
            path: request.path,
            command: request.command,
            ports: session.ports
          },
          this.options.agentEnv
        ),
        secret,
        secretHash: secretHash.toString('hex'),
        secretFileEnv: AGENT_ENV.secretFile
      }
    });
    const annotations = (bundle.pod.metadata!.annotations ??= {});
    annotations[ANNOTATIONS.signature] = signPod(
      this.options.adoptionKey,
      readPodMetadata(bundle.pod)!
    );
    try {
      const { backendId } = await this.driver(site.id).create(bundle);
      this.update(record, {
        backendId,
        progress: `submitted to ${site.displayName} as ${backendId}`
      });
    } catch (err) {
      this.options.logger.warn({ err, session: id, site: site.id }, 'backend refused the launch');
      this.finish(
        record,
        'failed',
        `${site.displayName} refused the launch: ${(err as Error).message}`
      );
    }
    this.options.logger.info(
      { session: id, site: site.id, profile: profile.id, user: caller.name, type: request.type },
      'session launched'
    );
    return { ...record.session };
  }

  list(owner: string): Session[] {
    return [...this.records.values()]
      .filter(r => r.session.owner === owner)
      .map(r => ({ ...r.session }))
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** The caller's own session; another user's answers 404 too, so ids cannot be probed. */
  get(caller: Caller, id: string): Session {
    return { ...this.own(caller, id).session };
  }

  /** Whether the caller owns a session: the reverse proxy checks this on every request. */
  owns(caller: Caller, id: string): 'own' | 'other' | 'none' {
    const record = this.records.get(id);
    if (!record) return 'none';
    return record.session.owner === caller.name ? 'own' : 'other';
  }

  state(id: string): SessionState | undefined {
    return this.records.get(id)?.session.state;
  }

  async stop(caller: Caller, id: string): Promise<Session> {
    const record = this.own(caller, id);
    if (isFinalState(record.session.state)) return { ...record.session };
    await this.end(record, 'cancelled', `stopped by ${caller.name}`);
    return { ...record.session };
  }

  /** "Keep running": the owner's word that an idle kernel session is still wanted. */
  keep(caller: Caller, id: string): Session {
    const record = this.own(caller, id);
    if (record.session.type !== 'kernel' || isFinalState(record.session.state)) {
      throw new ApiError(409, {
        error: 'not_running',
        message: `session ${id} is ${record.session.state}: only a running kernel session can be kept`
      });
    }
    record.lastActive = Date.now();
    if (record.session.idle)
      this.update(record, { idle: undefined, progress: `kept running by ${caller.name}` });
    return { ...record.session };
  }

  /** Sites with an idle limit: warn about, then stop, kernel sessions whose kernels sit idle. */
  private async checkIdle(): Promise<void> {
    const now = Date.now();
    await Promise.all(
      [...this.records.values()].map(async record => {
        const { session } = record;
        const idle = this.sites.get(session.site)?.idle;
        if (!idle || session.type !== 'kernel' || session.state !== 'ready') return;
        let kernels: unknown;
        try {
          kernels = await this.options.remote?.(session.id, `${session.url}api/kernels`);
        } catch {
          return; // the tunnel is down or the server busy: no verdict on what we cannot see
        }
        record.lastActive = lastActive(kernels, record.lastActive ?? now, now);
        const verdict = idleVerdict(idle, record.lastActive, now, formatWalltime);
        if (verdict.kind === 'stop') {
          await this.end(record, 'cancelled', verdict.reason);
        } else if (verdict.kind === 'warn') {
          const warning = {
            since: new Date(verdict.since).toISOString(),
            stopsAt: new Date(verdict.stopsAt).toISOString()
          };
          if (session.idle?.stopsAt !== warning.stopsAt) this.update(record, { idle: warning });
        } else if (session.idle) {
          this.update(record, { idle: undefined });
        }
      })
    );
  }

  async logs(caller: Caller, id: string, options: LogOptions): Promise<Readable> {
    const record = this.own(caller, id);
    return this.driver(record.session.site).logs(id, options);
  }

  /** The tunnel asks: is this the live secret of that session? */
  authorizeAgent(id: string, secret: string): boolean {
    const record = this.records.get(id);
    if (!record || isFinalState(record.session.state) || record.session.state === 'stopping') {
      return false;
    }
    return timingSafeEqual(hash(secret), record.secretHash);
  }

  /** The agent's tunnel came up or went down. */
  onTunnel(id: string, up: boolean): void {
    const record = this.records.get(id);
    if (!record || isFinalState(record.session.state)) return;
    record.tunnelUp = up;
    const { state } = record.session;
    if (up && (state === 'starting' || state === 'queued' || state === 'pending')) {
      record.lastActive ??= Date.now();
      this.update(record, { state: 'ready', progress: 'remote Jupyter server connected' });
    } else if (!up && state === 'ready' && record.session.type === 'kernel') {
      this.update(record, {
        state: 'starting',
        progress:
          'tunnel lost; waiting for the agent to reconnect (the remote kernel keeps running)'
      });
    }
  }

  /**
   * The account the caller's jobs run as on the site (its `runAs`), or undefined for the
   * service's own. Jobs of local and Slurm sites start here, so their account must exist here;
   * a remote site's may be known only there (its name travels, its uid where known).
   */
  private async accountFor(site: SiteConfig, caller: Caller): Promise<Account | undefined> {
    const refuse = (message: string) => new ApiError(403, { error: 'no_account', message });
    let name: string | undefined;
    try {
      name = await accountName(site, caller.name);
    } catch (err) {
      throw refuse((err as Error).message);
    }
    if (!name) return undefined;
    const taken = this.accountHolders.claim(site, name, caller.name);
    if (taken) throw refuse(taken);
    let account: Account;
    try {
      account = await lookupAccount(name);
    } catch (err) {
      if (site.driver === 'local' || site.driver === 'slurm') {
        throw refuse(
          `site "${site.id}" maps ${caller.name} to "${name}": ${(err as Error).message}`
        );
      }
      return { name };
    }
    if (account.uid === 0) throw refuse(`site "${site.id}" maps ${caller.name} to root: refused`);
    return account;
  }

  /**
   * An agent's tunnel is up: the session shows which agent holds it, and a takeover by another
   * one (something else holds the secret) is kept, and pushed to the owner, with both agents.
   */
  onAgent(id: string, holder: AgentInfo, replaced: AgentInfo | undefined): void {
    const record = this.records.get(id);
    if (!record || isFinalState(record.session.state)) return;
    if (!replaced) {
      this.update(record, { agent: holder });
      return;
    }
    const takeover = { at: holder.connectedAt, previous: replaced, current: holder };
    const takeovers = [...(record.session.takeovers ?? []), takeover].slice(-MAX_TAKEOVERS);
    this.update(record, {
      agent: holder,
      takeovers,
      progress: `another agent (${describeAgent(holder)}) took the tunnel over from ${describeAgent(replaced)}`
    });
  }

  private own(caller: Caller, id: string): SessionRecord {
    const record = this.records.get(id);
    if (!record || record.session.owner !== caller.name) {
      throw new ApiError(404, { error: 'not_found', message: `no session "${id}" of yours` });
    }
    return record;
  }

  private driver(siteId: string): Driver {
    const driver = this.options.drivers.get(siteId);
    if (!driver) throw new Error(`no driver for site ${siteId}`);
    return driver;
  }

  private onBackend(id: string, status: BackendStatus): void {
    const record = this.records.get(id);
    if (!record) return;
    if (record.phase !== status.phase) {
      record.phase = status.phase;
      this.refreshHealthSoon(record.session.site);
    }
    if (isFinalState(record.session.state)) return;
    const s = record.session;
    switch (status.phase) {
      case 'pending':
        break;
      case 'queued': {
        const why = status.queue?.reason ? `: ${status.queue.reason}` : '';
        this.update(record, {
          state: s.state === 'stopping' ? 'stopping' : 'queued',
          queue: status.queue,
          backendId: status.backendId,
          progress:
            s.state === 'queued' && s.queue?.reason === status.queue?.reason
              ? undefined
              : `queued${why}`
        });
        break;
      }
      case 'running': {
        if (s.state === 'stopping') break;
        const startedAt = s.startedAt ?? status.startedAt ?? new Date().toISOString();
        const endsAt = new Date(Date.parse(startedAt) + s.walltime * 1000).toISOString();
        const next: SessionState = s.type === 'job' || record.tunnelUp ? 'ready' : 'starting';
        if (s.state !== next || !s.startedAt) {
          this.update(record, {
            state: next,
            startedAt,
            endsAt,
            queue: undefined,
            backendId: status.backendId,
            progress:
              next === 'starting'
                ? `running${status.backendId ? ` as ${status.backendId}` : ''}; starting Jupyter`
                : 'running'
          });
          this.armExpiry(record);
        }
        break;
      }
      case 'succeeded':
        this.finish(
          record,
          record.ending?.state ?? 'completed',
          record.ending?.reason,
          status.exitCode
        );
        break;
      case 'failed':
        if (record.ending)
          this.finish(record, record.ending.state, record.ending.reason, status.exitCode);
        else if (status.expired) {
          this.finish(
            record,
            'expired',
            `walltime of ${formatWalltime(s.walltime)} reached`,
            status.exitCode
          );
        } else
          this.finish(record, 'failed', status.reason ?? 'the remote job failed', status.exitCode);
        break;
      case 'gone':
        this.finish(
          record,
          record.ending?.state ?? 'failed',
          record.ending?.reason ?? `the remote job disappeared from ${s.site}`
        );
        break;
    }
  }

  /** Deletes the pod ourselves (stop, walltime) and records why. */
  private async end(
    record: SessionRecord,
    state: 'cancelled' | 'expired',
    reason: string
  ): Promise<void> {
    if (record.ending || isFinalState(record.session.state)) return;
    record.ending = { state, reason };
    this.update(record, { state: 'stopping', progress: reason });
    this.onEnded(record.session.id);
    try {
      await this.driver(record.session.site).delete(record.session.id);
    } catch (err) {
      this.options.logger.warn({ err, session: record.session.id }, 'backend delete failed');
    }
    // The driver reports the pod gone; if it said nothing, the deletion it accepted is final.
    if (!isFinalState(record.session.state)) this.finish(record, state, reason);
  }

  private armExpiry(record: SessionRecord): void {
    clearTimeout(record.expiryTimer);
    if (!record.session.endsAt) return;
    const ms = Math.max(0, Date.parse(record.session.endsAt) - Date.now());
    // setTimeout takes at most 2^31-1 ms; longer walltimes re-arm on the next state change
    record.expiryTimer = setTimeout(
      () =>
        void this.end(
          record,
          'expired',
          `walltime of ${formatWalltime(record.session.walltime)} reached`
        ),
      Math.min(ms, 2 ** 31 - 1)
    );
    record.expiryTimer.unref();
  }

  private finish(
    record: SessionRecord,
    state: SessionState,
    reason?: string,
    exitCode?: number
  ): void {
    if (isFinalState(record.session.state)) return;
    clearTimeout(record.expiryTimer);
    this.update(record, {
      state,
      reason: state === 'completed' ? undefined : reason,
      exitCode,
      progress: state === 'completed' ? 'completed' : `${state}${reason ? `: ${reason}` : ''}`
    });
    this.onEnded(record.session.id);
    const id = record.session.id;
    setTimeout(() => {
      if (this.records.get(id) === record) {
        this.records.delete(id);
        this.emit('removed', id, record.session.owner);
      }
    }, this.retainEndedMs).unref();
  }

  private update(
    record: SessionRecord,
    change: Partial<Omit<Session, 'progress'>> & { progress?: string }
  ): void {
    const { progress, ...fields } = change;
    const s = record.session;
    Object.assign(s, fields);
    for (const key of Object.keys(fields) as (keyof Session)[]) {
      if (s[key] === undefined) delete s[key];
    }
    if (progress) s.progress = [...(s.progress ?? []), progress].slice(-20);
    s.updatedAt = new Date().toISOString();
    this.options.logger.info(
      { session: s.id, state: s.state, reason: s.reason },
      'session changed'
    );
    this.emit('changed', { ...s });
  }

  /** Rebuilds a session from the labels and annotations of a pod the backend still runs. */
  private adopt(site: SiteConfig, observed: ObservedPod): void {
    const { pod, sessionId: id } = observed;
    if (this.records.has(id)) return;
    const meta = readPodMetadata(pod);
    if (!meta?.secretHash) {
      this.options.logger.warn({ session: id }, 'pod without a secret hash; not adopted');
      return;
    }
    const signature = pod.metadata?.annotations?.[ANNOTATIONS.signature];
    if (!verifyPod(this.options.adoptionKey, meta, signature)) {
      // Planted or altered, or signed under a key this server no longer has (a state folder
      // that did not last): either way nothing in it can be believed.
      this.options.logger.warn(
        { session: id, site: site.id, user: meta.user, signed: !!signature },
        'pod not signed by this server (planted, altered, or from a server whose state folder is gone); not adopted'
      );
      return;
    }
    const session: Session = {
      id,
      site: site.id,
      profile: meta.profile || 'unknown',
      type: meta.type,
      name: meta.name,
      state: 'pending',
      owner: meta.user || 'unknown',
      createdAt: meta.createdAt ?? new Date().toISOString(),
      updatedAt: new Date().toISOString(),
      walltime: meta.walltime ?? 3600,
      url: sessionPath(this.options.basePath, id),
      progress: ['re-adopted after a restart of the proxy server'],
      path: meta.path,
      ports: meta.ports,
      environment: meta.environment
    };
    const record: SessionRecord = {
      session,
      secretHash: Buffer.from(meta.secretHash, 'hex'),
      groups: meta.groups,
      tunnelUp: false
    };
    this.records.set(id, record);
    // Its account stays its owner's after a restart, as before it.
    const account = pod.metadata?.annotations?.[ANNOTATIONS.account];
    if (account) this.accountHolders.claim(site, account, session.owner);
    this.options.logger.info({ session: id, site: site.id }, 'session re-adopted');
    this.emit('changed', { ...session });
    this.onBackend(id, observed.status);
  }

  /** Who owns a session: its user's name and groups (also after a re-adoption). */
  ownerOf(id: string): Pick<Caller, 'name' | 'groups'> | undefined {
    const record = this.records.get(id);
    return record && { name: record.session.owner, groups: record.groups };
  }

  private async refreshHealth(): Promise<void> {
    await Promise.all(this.options.sites.map(site => this.refreshSiteHealth(site.id)));
  }

  private async refreshSiteHealth(siteId: string): Promise<void> {
    try {
      this.setHealth(siteId, await this.driver(siteId).health());
    } catch (err) {
      this.setHealth(siteId, { status: 'down', message: (err as Error).message });
    }
  }

  /**
   * A job that starts or ends changes what the site has free (GPUs): look again in a second,
   * once for a burst of changes, rather than wait for the 30 s round.
   */
  private refreshHealthSoon(siteId: string): void {
    if (this.healthSoon.has(siteId)) return;
    const timer = setTimeout(() => {
      this.healthSoon.delete(siteId);
      void this.refreshSiteHealth(siteId);
    }, 1000);
    timer.unref();
    this.healthSoon.set(siteId, timer);
  }

  private setHealth(siteId: string, health: SiteHealth): void {
    const stamped = { ...health, checkedAt: health.checkedAt ?? new Date().toISOString() };
    const before = this.health.get(siteId);
    this.health.set(siteId, stamped);
    if (
      before?.status !== stamped.status ||
      before?.freeGpus !== stamped.freeGpus ||
      before?.message !== stamped.message
    ) {
      this.emit('health', siteId, stamped);
    }
  }

  /** Counts by site and state, for the metrics gauge. */
  counts(): Map<string, Map<string, number>> {
    const out = new Map<string, Map<string, number>>();
    for (const { session } of this.records.values()) {
      const bySite = out.get(session.site) ?? new Map<string, number>();
      bySite.set(session.state, (bySite.get(session.state) ?? 0) + 1);
      out.set(session.site, bySite);
    }
    return out;
  }
}
