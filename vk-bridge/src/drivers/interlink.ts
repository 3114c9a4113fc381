/**
 * interLink REST driver: speaks the interLink API directly (as its Virtual Kubelet does), for hubs
 * without a Kubernetes cluster. `/create` per launch, ONE `/status` for all of the site's live
 * pods per interval, `/getLogs` (follow), `/delete`, `/pinglink` for health and free
 * accelerators. The Virtual Kubelet sends `/status` and `/getLogs` as GET with a JSON body and
 * `/delete` as DELETE, while the document says POST: we send what the VK sends and fall back to
 * the documented method on 405, remembering which one the server took.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import type { SiteHealth } from '@jupyterlab-interlink/contract';
import { DriverError } from '../errors.js';
import { AGENT_CONTAINER, memoryLimitOf } from '../pod.js';
import { outOfMemoryReason } from '../reasons.js';
import type { BackendStatus, LogOptions, PodBundle, SiteConfig } from '../types.js';
import { isFinal, PollingDriver, readSavedJson, type PolledSession } from './core.js';

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

export class InterlinkDriver extends PollingDriver<PolledSession> {
  readonly kind = 'interlink' as const;
  readonly stats: InterlinkCallStats = {
    create: 0,
    status: 0,
    getLogs: 0,
    delete: 0,
    pinglink: 0,
    polls: 0
  };
  private readonly base: string;
  private readonly stateDir: string;
  private readonly timeoutMs: number;
  private readonly method = new Map<Endpoint, string>();

  constructor(site: SiteConfig, options: InterlinkDriverOptions = {}) {
    if (!site.interlink?.url)
      throw new DriverError('Invalid', `site "${site.id}": interlink.url is required`);
    super(site, options.pollIntervalMs ?? 2000);
    this.base = site.interlink.url.replace(/\/+$/, '');
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

  /** The pods earlier runs submitted: interLink has no list call, so each is kept in a file. */
  protected async readSaved(): Promise<Omit<PolledSession, 'misses' | 'expiring'>[]> {
    // an unreadable file is not ours to adopt
    const saved = await readSavedJson<V1Pod>(this.stateDir, file => {
      if (!file.endsWith('.json')) throw new Error('not a saved pod');
      return join(this.stateDir, file);
    });
    return saved.map(({ entry, saved: pod }) => ({
      id: entry.slice(0, -5),
      pod,
      status: { phase: 'pending', backendId: pod.metadata?.name }
    }));
  }

  async create(bundle: PodBundle): Promise<{ backendId: string }> {
    const id = this.sessions.claim(bundle.pod, this.closed);
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
    const s: PolledSession = {
      id,
      pod,
      status: { phase: 'pending', backendId },
      expiring: false,
      misses: 0
    };
    this.track(s);
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
    const s = this.sessions.require(sessionId);
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

  /** One /status call with every live pod of the site. */
  protected async pollRound(live: PolledSession[]): Promise<void> {
    this.stats.polls++;
    let answer: InterlinkPodStatus[] | null;
    try {
      answer = await this.json<InterlinkPodStatus[] | null>(
        'status',
        live.map(s => s.pod)
      );
    } catch (err) {
      this.healthReport.report({
        status: 'degraded',
        message: (err as Error).message,
        checkedAt: new Date().toISOString()
      });
      return;
    }
    this.healthReport.report({ status: 'ok', checkedAt: new Date().toISOString() });
    const byUid = new Map((answer ?? []).map(ps => [ps.UID, ps]));
    for (const s of live) {
      const ps = byUid.get(s.pod.metadata!.uid);
      if (!ps) {
        this.lost(s, `interLink no longer knows pod ${s.pod.metadata!.name}`);
        continue;
      }
      const status = interlinkToStatus(ps, s.pod.metadata!.name, memoryLimitOf(s.pod));
      // a deleted pod ends however interLink reports it
      await this.observe(s, status, isFinal(status.phase));
    }
  }

  protected async cancel(s: PolledSession): Promise<void> {
    const res = await this.call('delete', s.pod).catch(() => undefined);
    res?.resume();
  }
}
