/**
 * For tests: a small interLink API server whose pods really run (through the local executor,
 * optionally held "in the queue" first), for the tests that need a running agent behind the
 * interlink driver; interLink's real API server (interlink-api.test.ts) has no plugin here that
 * runs anything. /status caches as interLink's does. Every request body is checked against
 * interLink's OpenAPI document (problems are recorded, and answered with 400), the bearer token is
 * checked, both the documented methods and the Virtual Kubelet's (GET with a body, DELETE) are
 * accepted unless `strictMethods` asks for the documented ones only (interLink itself takes any).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { LocalDriver } from '../drivers/local.js';
import type { InterlinkPodStatus } from '../drivers/interlink.js';
import { LABELS, type BackendStatus, type PodBundle, type SiteConfig } from '../types.js';
import { checkRequest, loadOpenApi, type OpenApiDoc } from './openapi-check.js';

export const INTERLINK_OPENAPI = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'testdata',
  'interlink-openapi.json'
);

const DOCUMENTED: Record<string, string> = {
  '/create': 'POST',
  '/delete': 'POST',
  '/status': 'POST',
  '/getLogs': 'POST',
  '/pinglink': 'POST'
};
const VK: Record<string, string> = {
  '/create': 'POST',
  '/delete': 'DELETE',
  '/status': 'GET',
  '/getLogs': 'GET',
  '/pinglink': 'POST'
};

interface Held {
  pod: V1Pod;
  bundle: PodBundle;
  jid: string;
  startAt: number;
  started: boolean;
  status: BackendStatus;
}

export class FakeInterlink {
  readonly token = randomBytes(16).toString('hex');
  /** interLink's cache of the plugin's answers, by pod UID */
  private readonly cache = new Map<string, InterlinkPodStatus>();
  readonly requests: { method: string; path: string; problems: string[] }[] = [];
  readonly executor: LocalDriver;
  /** How long a new pod waits "in the queue" before it runs, ms. */
  holdMs = 0;
  /** Accept only the documented methods (POST everywhere), as a stricter server would. */
  strictMethods = false;
  freeGpus = 2;
  url = '';
  private server!: Server;
  private readonly doc: OpenApiDoc;
  private readonly pods = new Map<string, Held>();
  private jobs = 1000;

  private constructor(site: SiteConfig, stateDir: string) {
    this.doc = loadOpenApi(INTERLINK_OPENAPI);
    this.executor = new LocalDriver(site, { stateDir, killGraceMs: 1000 });
    this.executor.on('update', (id, s) => {
      for (const h of this.pods.values())
        if (h.pod.metadata?.labels?.[LABELS.session] === id) h.status = s;
    });
  }

  static async start(site: SiteConfig, stateDir: string): Promise<FakeInterlink> {
    const f = new FakeInterlink(site, stateDir);
    await f.executor.start();
    f.server = createServer((req, res) => {
      f.handle(req, res).catch(err => {
        if (!res.headersSent) res.writeHead(500).end(String(err));
        else res.destroy();
      });
    });
    await new Promise<void>(resolve => f.server.listen(0, '127.0.0.1', resolve));
    f.url = `http://127.0.0.1:${(f.server.address() as AddressInfo).port}`;
    return f;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>(resolve => this.server.close(() => resolve()));
    await this.executor.close();
  }

  /** Every schema problem seen so far, as `METHOD /path: problem`. */
  problems(): string[] {
    return this.requests.flatMap(r => r.problems.map(p => `${r.method} ${r.path}: ${p}`));
  }

  private reply(res: ServerResponse, code: number, body?: unknown): void {
    const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(code, {
      'Content-Type': typeof body === 'string' ? 'text/plain' : 'application/json'
    });
    res.end(text);
  }

  private sessionOf(pod: V1Pod | undefined): string | undefined {
    return pod?.metadata?.labels?.[LABELS.session];
  }

  private async startDue(): Promise<void> {
    for (const h of this.pods.values()) {
      if (h.started || Date.now() < h.startAt) continue;
      h.started = true;
      await this.executor.create(h.bundle).catch(err => {
        h.status = { phase: 'failed', reason: String(err), exitCode: 500 };
      });
    }
  }

  private statusOf(h: Held): InterlinkPodStatus {
    const name = containerName(h.pod);
    const s = h.status;
    let c: V1ContainerStatus;
    const base = { name, image: '', imageID: '', restartCount: 0 };
    if (!h.started)
      c = {
        ...base,
        ready: false,
        state: { waiting: { reason: 'Priority', message: 'waiting in the queue (Priority)' } }
      };
    else if (s.phase === 'running')
      c = {
        ...base,
        ready: true,
        state: { running: { startedAt: s.startedAt as unknown as Date } }
      };
    else if (s.phase === 'succeeded' || s.phase === 'failed') {
      const reason = s.expired
        ? 'SlurmJobTimeout'
        : s.phase === 'succeeded'
          ? 'Completed'
          : 'Error';
      c = {
        ...base,
        ready: false,
        state: { terminated: { exitCode: s.exitCode ?? (s.expired ? 0 : 1), reason } }
      };
    } else c = { ...base, ready: false, state: { waiting: { reason: 'ContainerCreating' } } };
    const md = h.pod.metadata!;
    return {
      name: md.name,
      UID: md.uid,
      namespace: md.namespace,
      JID: h.jid,
      containers: [c],
      initContainers: []
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const method = req.method ?? 'GET';
    const record = { method, path, problems: [] as string[] };
    this.requests.push(record);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    if (req.headers.authorization !== `Bearer ${this.token}`)
      return this.reply(res, 401, 'unauthorized');
    if (!(path in DOCUMENTED)) return this.reply(res, 404, 'not found');
    const allowed = this.strictMethods ? [DOCUMENTED[path]] : [DOCUMENTED[path], VK[path]];
    if (!allowed.includes(method)) return this.reply(res, 405, 'method not allowed');
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      record.problems.push('body is not JSON');
      return this.reply(res, 400, 'bad json');
    }
    record.problems.push(...checkRequest(this.doc, path, body));
    if (record.problems.length) return this.reply(res, 400, record.problems.join('\n'));
    await this.startDue();

    switch (path) {
      case '/create': {
        const b = body as {
          pod: V1Pod;
          secrets?: PodBundle['secrets'];
          configmaps?: PodBundle['configMaps'];
        };
        const uid = b.pod?.metadata?.uid;
        if (!uid || !this.sessionOf(b.pod))
          return this.reply(res, 400, 'pod without uid or session label');
        if (this.pods.has(uid)) return this.reply(res, 409, 'exists');
        const h: Held = {
          pod: b.pod,
          bundle: { pod: b.pod, secrets: b.secrets ?? [], configMaps: b.configmaps ?? [] },
          jid: String(++this.jobs),
          startAt: Date.now() + this.holdMs,
          started: false,
          status: { phase: 'pending' }
        };
        this.pods.set(uid, h);
        await this.startDue();
        return this.reply(res, 200, { PodUID: uid, PodJID: h.jid });
      }
      case '/status': {
        // as interLink's StatusHandler: the plugin is asked again only about pods sent with
        // phase Pending or Running, or not cached yet; the rest get the cached answer
        const pods = (body as V1Pod[] | null) ?? [];
        const answer: InterlinkPodStatus[] = [];
        for (const p of pods) {
          const uid = p.metadata?.uid ?? '';
          const h = this.pods.get(uid);
          if (!h) continue;
          const phase = p.status?.phase;
          if (phase === 'Pending' || phase === 'Running' || !this.cache.has(uid))
            this.cache.set(uid, this.statusOf(h));
          answer.push(this.cache.get(uid)!);
        }
        return this.reply(res, 200, answer);
      }
      case '/delete': {
        const h = this.pods.get((body as V1Pod)?.metadata?.uid ?? '');
        if (!h) return this.reply(res, 404, 'no such pod');
        this.pods.delete(h.pod.metadata!.uid!);
        this.cache.delete(h.pod.metadata!.uid!);
        if (h.started) await this.executor.delete(this.sessionOf(h.pod)!);
        return this.reply(res, 200);
      }
      case '/getLogs': {
        const b = body as { PodUID?: string; Opts?: { Tail?: number; Follow?: boolean } };
        const h = this.pods.get(b.PodUID ?? '');
        if (!h) return this.reply(res, 404, 'no such pod');
        if (!h.started) return this.reply(res, 200, '');
        const stream = await this.executor.logs(this.sessionOf(h.pod)!, {
          tail: b.Opts?.Tail || undefined,
          follow: b.Opts?.Follow
        });
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.on('close', () => stream.destroy());
        stream.pipe(res);
        return;
      }
      case '/pinglink':
        return this.reply(res, 200, {
          status: 'ok',
          resources: {
            cpu: '2',
            memory: '4Gi',
            pods: '100',
            accelerators: [{ resourceType: 'nvidia.com/gpu', available: String(this.freeGpus) }]
          },
          taints: []
        });
    }
  }
}

function containerName(pod: V1Pod): string {
  return pod.spec?.containers[0]?.name ?? 'agent';
}
