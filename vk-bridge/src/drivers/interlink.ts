/**
 * interLink REST driver: speaks the interLink API directly (as its Virtual Kubelet does), for hubs
 * without a Kubernetes cluster. `/create` per launch, ONE `/status` for all of the site's live
 * pods per interval, `/getLogs` (follow), `/delete`, `/pinglink` for health and free
 * accelerators. The Virtual Kubelet sends `/status` and `/getLogs` as GET with a JSON body and
 * `/delete` as DELETE, while the document says POST: we send what the VK sends and fall back to
 * the documented method on 405, remembering which one the server took.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import type { SiteHealth } from '@jupyterlab-interlink/contract';
import { DriverError, sessionIdOf } from '../errors.js';
import { AGENT_CONTAINER, memoryLimitOf } from '../pod.js';
import { outOfMemoryReason } from '../reasons.js';
import type {
  BackendStatus,
  Driver,
  DriverEvents,
  LogOptions,
  ObservedPod,
  PodBundle,
  SiteConfig
} from '../types.js';

export interface InterlinkDriverOptions {
  /** One /status call per interval for all sessions, ms (default 2000). */
  pollIntervalMs?: number;
  /** Where submitted pods are remembered for re-adoption (interLink has no list call). */
  stateDir?: string;
  requestTimeoutMs?: number;
}

export interface InterlinkCallStats {
  create: number;
  status: number;
  getLogs: number;
  delete: number;
  pinglink: number;
  polls: number;
}

/** interLink's answer for one pod (InterlinkPodStatus). */
export interface InterlinkPodStatus {
  name?: string;
  UID?: string;
  namespace?: string;
  JID?: string;
  containers?: V1ContainerStatus[] | null;
  initContainers?: V1ContainerStatus[] | null;
}

const FINAL = new Set(['succeeded', 'failed', 'gone']);
const EXPIRED_REASONS = new Set(['SlurmJobTimeout', 'DeadlineExceeded']);

/** Container states → our phase, the way the Virtual Kubelet derives the pod phase from them. */
export function interlinkToStatus(
  ps: InterlinkPodStatus,
  podName?: string,
  /** the pod's memory limit in bytes, for an OOMKilled reason in words */
  memoryLimit?: number
): BackendStatus {
  const backendId = ps.JID || podName;
  for (const c of ps.initContainers ?? []) {
    const t = c.state?.terminated;
    if (t && t.exitCode !== 0) {
      return {
        phase: 'failed',
        backendId,
        reason: `init container ${c.name}: exit code ${t.exitCode}`,
        exitCode: t.exitCode
      };
    }
  }
  const containers = ps.containers ?? [];
  if (containers.length === 0) return { phase: 'pending', backendId };
  const running = containers.find(c => c.state?.running);
  if (running) {
    const at = running.state!.running!.startedAt;
    return { phase: 'running', backendId, startedAt: at ? new Date(at).toISOString() : undefined };
  }
  if (containers.every(c => c.state?.terminated)) {
    const ts = containers.map(c => c.state!.terminated!);
    const special = ts.find(
      t => t.reason && (EXPIRED_REASONS.has(t.reason) || t.reason === 'OOMKilled')
    );
    const worst = ts.reduce((a, b) => (b.exitCode > a.exitCode ? b : a));
    const startedAt = ts[0].startedAt ? new Date(ts[0].startedAt).toISOString() : undefined;
    if (special) {
      return {
        phase: 'failed',
        backendId,
        reason: special.reason === 'OOMKilled' ? outOfMemoryReason(memoryLimit) : special.reason,
        exitCode: special.exitCode,
        expired: EXPIRED_REASONS.has(special.reason!) || undefined,
        startedAt
      };
    }
    if (worst.exitCode === 0) return { phase: 'succeeded', backendId, exitCode: 0, startedAt };
    return {
      phase: 'failed',
      backendId,
      reason: `exit code ${worst.exitCode}`,
      exitCode: worst.exitCode,
      startedAt
    };
  }
  const waiting = containers.find(c => c.state?.waiting)?.state?.waiting;
  const reason = waiting?.message || waiting?.reason;
  return { phase: 'queued', backendId, queue: reason ? { reason } : {} };
}

interface IlSession {
  id: string;
  pod: V1Pod;
  status: BackendStatus;
  expiring: boolean;
  misses: number;
}

type Endpoint = 'create' | 'status' | 'getLogs' | 'delete' | 'pinglink';
/** What the Virtual Kubelet sends first, then what the document says. */
const METHODS: Record<Endpoint, string[]> = {
  create: ['POST'],
  status: ['GET', 'POST'],
  getLogs: ['GET', 'POST'],
  delete: ['DELETE', 'POST'],
  pinglink: ['POST', 'GET']
};

async function readBody(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export class InterlinkDriver extends EventEmitter<DriverEvents> implements Driver {
  readonly kind = 'interlink' as const;
  readonly stats: InterlinkCallStats = {
    create: 0,
    status: 0,
    getLogs: 0,
    delete: 0,
    pinglink: 0,
    polls: 0
  };
  private readonly sessions = new Map<string, IlSession>();
  private readonly base: string;
  private readonly interval: number;
  private readonly stateDir: string;
  private readonly timeoutMs: number;
  private readonly method = new Map<Endpoint, string>();
  private timer?: NodeJS.Timeout;
  private polling?: Promise<void>;
  private closed = false;
  private lastHealth?: string;

  constructor(
    readonly site: SiteConfig,
    options: InterlinkDriverOptions = {}
  ) {
    super();
    if (!site.interlink?.url)
      throw new DriverError('Invalid', `site "${site.id}": interlink.url is required`);
    this.base = site.interlink.url.replace(/\/+$/, '');
    this.interval = options.pollIntervalMs ?? 2000;
    this.stateDir = options.stateDir ?? join(tmpdir(), 'interlink-api', site.id);
    this.timeoutMs = options.requestTimeoutMs ?? 30000;
  }

  private token(): string | undefined {
    const il = this.site.interlink!;
    if (il.token) return il.token;
    // re-read each time: tokens are refreshed on disk by whoever holds the OIDC session
    if (il.tokenFile) return readFileSync(il.tokenFile, 'utf8').trim();
    return undefined;
  }

  /** One call, with the VK's method first and the documented one on 405. */
  private async call(endpoint: Endpoint, body: unknown, stream = false): Promise<IncomingMessage> {
    this.stats[endpoint]++;
    const methods = this.method.has(endpoint) ? [this.method.get(endpoint)!] : METHODS[endpoint];
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    let last: IncomingMessage | undefined;
    for (const method of methods) {
      const res = await this.send(method, `${this.base}/${endpoint}`, payload, stream);
      if (res.statusCode === 405 && methods.length > 1) {
        res.resume();
        last = res;
        continue;
      }
      this.method.set(endpoint, method);
      return res;
    }
    return last!;
  }

  private send(
    method: string,
    url: string,
    payload: Buffer | undefined,
    stream: boolean
  ): Promise<IncomingMessage> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    const token = this.token();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (payload) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = String(payload.length);
    }
    const request = url.startsWith('https:') ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(url, { method, headers }, resolve);
      if (!stream) {
        req.setTimeout(this.timeoutMs, () =>
          req.destroy(new Error(`no answer from ${url} within ${this.timeoutMs} ms`))
        );
      }
      req.on('error', err =>
        reject(new DriverError('Unavailable', `interLink ${url}: ${err.message}`, { cause: err }))
      );
      req.end(payload);
    });
  }

  private async json<T>(endpoint: Endpoint, body: unknown): Promise<T> {
    const res = await this.call(endpoint, body);
    const text = await readBody(res);
    if ((res.statusCode ?? 0) >= 300) {
      const code = res.statusCode === 404 ? 'NotFound' : 'Backend';
      throw new DriverError(
        code,
        `interLink /${endpoint}: HTTP ${res.statusCode}: ${text.trim().slice(0, 500)}`
      );
    }
    try {
      return (text ? JSON.parse(text) : undefined) as T;
    } catch {
      throw new DriverError('Backend', `interLink /${endpoint}: not JSON: ${text.slice(0, 200)}`);
    }
  }

  async start(): Promise<ObservedPod[]> {
    await mkdir(this.stateDir, { recursive: true, mode: 0o700 });
    for (const file of await readdir(this.stateDir)) {
      if (!file.endsWith('.json')) continue;
      const id = file.slice(0, -5);
      if (this.sessions.has(id)) continue;
      try {
        const pod = JSON.parse(await readFile(join(this.stateDir, file), 'utf8')) as V1Pod;
        this.sessions.set(id, {
          id,
          pod,
          status: { phase: 'pending', backendId: pod.metadata?.name },
          expiring: false,
          misses: 2
        });
      } catch {
        // unreadable: not ours to adopt
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
    const namespace = this.site.namespace ?? 'default';
    // interLink follows pods by UID, which an API server would have given
    const pod: V1Pod = structuredClone(bundle.pod);
    pod.metadata = { ...pod.metadata, namespace, uid: pod.metadata?.uid ?? randomUUID() };
    pod.metadata.creationTimestamp ??= new Date().toISOString() as unknown as Date;
    const withNs = <T extends { metadata?: object }>(o: T) => ({
      ...o,
      metadata: { ...o.metadata, namespace }
    });
    const answer = await this.json<{ PodUID?: string; PodJID?: string }>('create', {
      pod,
      configmaps: bundle.configMaps.map(withNs),
      secrets: bundle.secrets.map(withNs),
      projectedvolumesmaps: [],
      jobscriptURL: ''
    });
    const backendId = answer?.PodJID || pod.metadata.name!;
    await mkdir(this.stateDir, { recursive: true, mode: 0o700 });
    await writeFile(join(this.stateDir, `${id}.json`), JSON.stringify(pod), { mode: 0o600 });
    const s: IlSession = {
      id,
      pod,
      status: { phase: 'pending', backendId },
      expiring: false,
      misses: 0
    };
    this.sessions.set(id, s);
    this.emit('update', id, { ...s.status });
    this.schedule();
    return { backendId };
  }

  async delete(sessionId: string): Promise<void> {
    const s = this.sessions.get(sessionId);
    if (!s || s.status.phase === 'gone') return;
    // also for finished pods: interLink keeps their job files until told
    const res = await this.call('delete', s.pod);
    const text = await readBody(res);
    if ((res.statusCode ?? 0) >= 300 && res.statusCode !== 404) {
      throw new DriverError(
        'Backend',
        `interLink /delete: HTTP ${res.statusCode}: ${text.trim().slice(0, 500)}`
      );
    }
    await rm(join(this.stateDir, `${sessionId}.json`), { force: true });
    this.setStatus(s, { ...s.status, phase: 'gone' });
  }

  async logs(sessionId: string, options: LogOptions = {}): Promise<Readable> {
    const s = this.sessions.get(sessionId);
    if (!s) throw new DriverError('NotFound', `no session ${sessionId} on site ${this.site.id}`);
    const md = s.pod.metadata!;
    const res = await this.call(
      'getLogs',
      {
        Namespace: md.namespace,
        PodUID: md.uid,
        PodName: md.name,
        ContainerName: AGENT_CONTAINER,
        Opts: {
          Tail: options.tail ?? 0,
          Follow: options.follow ?? false,
          Timestamps: false,
          Previous: false
        }
      },
      true
    );
    if ((res.statusCode ?? 0) >= 300) {
      const text = await readBody(res);
      throw new DriverError(
        res.statusCode === 404 ? 'NotFound' : 'Backend',
        `interLink /getLogs: HTTP ${res.statusCode}: ${text.trim().slice(0, 500)}`
      );
    }
    options.signal?.addEventListener('abort', () => res.destroy());
    return res;
  }

  async health(): Promise<SiteHealth> {
    const checkedAt = new Date().toISOString();
    try {
      const ping = await this.json<{
        status?: string;
        resources?: { accelerators?: { resourceType?: string; available?: string }[] | null };
      }>('pinglink', undefined);
      const freeGpus = (ping?.resources?.accelerators ?? [])
        .filter(a => /gpu/i.test(a.resourceType ?? ''))
        .reduce((n, a) => n + (Number(a.available) || 0), 0);
      return { status: 'ok', freeGpus, checkedAt };
    } catch (err) {
      return { status: 'down', message: (err as Error).message, checkedAt };
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.polling;
  }

  sessionIds(): string[] {
    return [...this.sessions.keys()];
  }

  private schedule(): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.poll().finally(() => {
        if ([...this.sessions.values()].some(s => !FINAL.has(s.status.phase))) this.schedule();
      });
    }, this.interval);
  }

  private poll(): Promise<void> {
    this.polling ??= this.pollOnce().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  /** One /status call with every live pod of the site. */
  private async pollOnce(): Promise<void> {
    const live = [...this.sessions.values()].filter(s => !FINAL.has(s.status.phase));
    if (live.length === 0) return;
    this.stats.polls++;
    let answer: InterlinkPodStatus[] | null;
    try {
      answer = await this.json<InterlinkPodStatus[] | null>(
        'status',
        live.map(s => s.pod)
      );
    } catch (err) {
      this.reportHealth({
        status: 'degraded',
        message: (err as Error).message,
        checkedAt: new Date().toISOString()
      });
      return;
    }
    this.reportHealth({ status: 'ok', checkedAt: new Date().toISOString() });
    const byUid = new Map((answer ?? []).map(ps => [ps.UID, ps]));
    for (const s of live) {
      const ps = byUid.get(s.pod.metadata!.uid);
      if (!ps) {
        if (++s.misses >= 3)
          this.setStatus(s, {
            ...s.status,
            phase: 'failed',
            reason: `interLink no longer knows pod ${s.pod.metadata!.name}`
          });
        continue;
      }
      s.misses = 0;
      let status = interlinkToStatus(ps, s.pod.metadata!.name, memoryLimitOf(s.pod));
      if (s.expiring && FINAL.has(status.phase))
        status = { ...status, phase: 'failed', reason: 'DeadlineExceeded', expired: true };
      this.setStatus(s, status);
      if (status.phase === 'running') await this.enforceDeadline(s);
    }
  }

  /** activeDeadlineSeconds, which a remote batch system only knows to the minute. */
  private async enforceDeadline(s: IlSession): Promise<void> {
    const ads = s.pod.spec?.activeDeadlineSeconds;
    if (!ads || s.expiring || !s.status.startedAt) return;
    if (Date.now() - Date.parse(s.status.startedAt) < ads * 1000) return;
    s.expiring = true;
    const res = await this.call('delete', s.pod).catch(() => undefined);
    res?.resume();
    this.setStatus(s, { ...s.status, phase: 'failed', reason: 'DeadlineExceeded', expired: true });
  }

  private reportHealth(h: SiteHealth): void {
    const key = `${h.status}:${h.message ?? ''}`;
    if (key === this.lastHealth) return;
    const first = this.lastHealth === undefined;
    this.lastHealth = key;
    if (!first || h.status !== 'ok') this.emit('health', h);
  }

  private setStatus(s: IlSession, status: BackendStatus): void {
    if (FINAL.has(s.status.phase) && status.phase !== 'gone') return;
    if (JSON.stringify(status) === JSON.stringify(s.status)) return;
    s.status = status;
    this.emit('update', s.id, { ...status });
  }
}
