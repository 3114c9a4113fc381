/**
 * A Kubernetes API server for tests only, speaking the wire protocol the kubernetes driver relies
 * on: pods, secrets and config maps in namespaces; list with a resourceVersion; watch streams
 * (`?watch=true`, one JSON `{type, object}` per line, resuming from a resourceVersion, 410 Expired
 * as an ERROR event once history is compacted); Status objects for 401/404/409/410/422; the pod
 * log endpoint with follow and tailLines; label selectors; bearer token auth.
 *
 * Nothing runs pods here: a FakeKubelet, when attached, plays the virtual node (see local-kubelet).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import {
  KubeConfig,
  type V1ConfigMap,
  type V1Pod,
  type V1PodStatus,
  type V1Secret
} from '@kubernetes/client-node';

type Kind = 'pods' | 'secrets' | 'configmaps';
type Obj = V1Pod | V1Secret | V1ConfigMap;

export interface FakeKubelet {
  /** A pod was created on the virtual node. */
  podCreated(
    pod: V1Pod,
    objects: {
      secret(name: string): V1Secret | undefined;
      configMap(name: string): V1ConfigMap | undefined;
    }
  ): void;
  /** The pod is being deleted: stop it, then resolve. */
  podDeleting(pod: V1Pod): Promise<void>;
  /** The container's log. */
  logs(
    pod: V1Pod,
    container: string,
    options: { follow: boolean; tailLines?: number }
  ): Promise<Readable>;
}

interface Watcher {
  namespace: string;
  selector: Selector;
  res: ServerResponse;
}

interface Event {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: V1Pod;
}

type Selector = (labels: Record<string, string> | undefined) => boolean;

/** Equality-based selectors: `a=b`, `a==b`, `a!=b`, `a`, `!a`, comma-separated. */
export function parseSelector(text: string | null): Selector {
  const terms = (text ?? '')
    .split(',')
    .map(t => t.trim())
    .filter(Boolean)
    .map(t => {
      let m = /^([^!=]+)!=(.*)$/.exec(t);
      if (m) return (l: Record<string, string>) => l[m![1]] !== m![2];
      m = /^([^!=]+)==?(.*)$/.exec(t);
      if (m) return (l: Record<string, string>) => l[m![1]] === m![2];
      if (t.startsWith('!')) return (l: Record<string, string>) => !(t.slice(1) in l);
      return (l: Record<string, string>) => t in l;
    });
  return labels => terms.every(f => f(labels ?? {}));
}

function status(
  code: number,
  reason: string,
  message: string,
  details?: { name?: string; kind?: string }
) {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details ? { details } : {}),
    code
  };
}

const clone = <T>(x: T): T => structuredClone(x);
const TERMINAL = new Set(['Succeeded', 'Failed']);

export class FakeApiServer {
  readonly token = randomBytes(16).toString('hex');
  /** Every request, for tests that count calls (list vs watch vs per-pod reads). */
  readonly requests: { method: string; path: string; query: string }[] = [];
  private server!: Server;
  private rv = 1;
  /** oldest resourceVersion a watch may resume from */
  private minRv = 1;
  private readonly objects: Record<Kind, Map<string, Obj>> = {
    pods: new Map(),
    secrets: new Map(),
    configmaps: new Map()
  };
  private history: Event[] = [];
  private watchers = new Set<Watcher>();
  private readonly logs = new Map<
    string,
    { text: string; listeners: Set<(chunk: string) => void> }
  >();
  private kubelet?: FakeKubelet;
  /** Delay before a deleted pod without kubelet disappears, ms (a kubelet's graceful stop). */
  deletionDelayMs = 20;
  url = '';

  static async start(): Promise<FakeApiServer> {
    const s = new FakeApiServer();
    s.server = createServer((req, res) => {
      s.handle(req, res).catch(err => {
        if (!res.headersSent) s.send(res, 500, status(500, 'InternalError', String(err)));
        else res.destroy();
      });
    });
    await new Promise<void>(resolve => s.server.listen(0, '127.0.0.1', resolve));
    s.url = `http://127.0.0.1:${(s.server.address() as AddressInfo).port}`;
    return s;
  }

  /** A kubeconfig for this server (plain HTTP needs skipTLSVerify with client-node 1.x). */
  kubeConfig(namespace = 'default'): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'driver', token: this.token }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'driver', namespace }],
      currentContext: 'fake'
    });
    return kc;
  }

  attachKubelet(k: FakeKubelet): void {
    this.kubelet = k;
  }

  async close(): Promise<void> {
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
    this.server.closeAllConnections();
    await new Promise<void>(resolve => this.server.close(() => resolve()));
  }

  pod(namespace: string, name: string): V1Pod | undefined {
    const p = this.objects.pods.get(`${namespace}/${name}`) as V1Pod | undefined;
    return p && clone(p);
  }

  list(kind: Kind, namespace: string): Obj[] {
    return [...this.objects[kind].values()]
      .filter(o => o.metadata?.namespace === namespace)
      .map(clone);
  }

  /** The virtual kubelet reports the pod's status. */
  setPodStatus(namespace: string, name: string, podStatus: V1PodStatus): void {
    const key = `${namespace}/${name}`;
    const pod = this.objects.pods.get(key) as V1Pod | undefined;
    if (!pod) return;
    pod.status = { ...pod.status, ...clone(podStatus) };
    this.bump(pod, 'MODIFIED');
    if (TERMINAL.has(pod.status.phase ?? '')) this.endLogs(key);
  }

  appendLog(namespace: string, name: string, text: string): void {
    const log = this.logOf(`${namespace}/${name}`);
    log.text += text;
    for (const l of log.listeners) l(text);
  }

  /** Forgets watch history: watches resuming from before now get 410 Expired, as after etcd compaction. */
  compact(): void {
    this.minRv = this.rv;
    this.history = [];
    for (const w of this.watchers) {
      this.writeLine(w.res, {
        type: 'ERROR',
        object: status(410, 'Expired', `too old resource version: ${this.rv - 1} (${this.rv})`)
      });
      w.res.end();
    }
    this.watchers.clear();
  }

  /** Ends every watch stream, as an API server does on its watch timeout. */
  closeWatches(): void {
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
  }

  /** Adds a pod directly, as another client would (e.g. pods from before a restart). */
  seed(kind: Kind, obj: Obj): void {
    const md = obj.metadata!;
    const key = `${md.namespace}/${md.name}`;
    const stored = this.stamp(clone(obj));
    this.objects[kind].set(key, stored);
    if (kind === 'pods') this.record('ADDED', stored as V1Pod);
  }

  private logOf(key: string) {
    let log = this.logs.get(key);
    if (!log) this.logs.set(key, (log = { text: '', listeners: new Set() }));
    return log;
  }

  private endLogs(key: string): void {
    const log = this.logs.get(key);
    if (log) for (const l of log.listeners) l('\0end');
  }

  private stamp(obj: Obj): Obj {
    const md = (obj.metadata ??= {});
    md.uid ??= randomUUID();
    md.creationTimestamp ??= new Date();
    md.resourceVersion = String(++this.rv);
    return obj;
  }

  private bump(pod: V1Pod, type: Event['type']): void {
    pod.metadata!.resourceVersion = String(++this.rv);
    this.record(type, pod);
  }

  private record(type: Event['type'], pod: V1Pod): void {
    const ev: Event = { rv: Number(pod.metadata!.resourceVersion), type, object: clone(pod) };
    this.history.push(ev);
    if (this.history.length > 100000) this.history.splice(0, 50000);
    for (const w of this.watchers) {
      if (w.namespace === pod.metadata!.namespace && w.selector(pod.metadata!.labels)) {
        this.writeLine(w.res, { type, object: ev.object });
      }
    }
  }

  private writeLine(res: ServerResponse, value: unknown): void {
    res.write(
      JSON.stringify(value, (_k, v: unknown) => (v instanceof Date ? v.toISOString() : v)) + '\n'
    );
  }

  private send(res: ServerResponse, code: number, body: unknown): void {
    const text = JSON.stringify(body, (_k, v: unknown) =>
      v instanceof Date ? v.toISOString() : v
    );
    res.writeHead(code, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(text)
    });
    res.end(text);
  }

  private async body(req: IncomingMessage): Promise<unknown> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    return text ? JSON.parse(text) : undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    this.requests.push({ method: req.method ?? 'GET', path: url.pathname, query: url.search });
    if (req.headers.authorization !== `Bearer ${this.token}`) {
      return this.send(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
    }
    const m =
      /^\/api\/v1\/namespaces\/([^/]+)\/(pods|secrets|configmaps)(?:\/([^/]+))?(?:\/(log))?$/.exec(
        url.pathname
      );
    if (!m)
      return this.send(
        res,
        404,
        status(404, 'NotFound', 'the server could not find the requested resource')
      );
    const [, namespace, kind, name, sub] = m as unknown as [
      string,
      string,
      Kind,
      string | undefined,
      string | undefined
    ];
    const store = this.objects[kind];
    const q = url.searchParams;
    const kindName = kind === 'pods' ? 'pods' : kind;

    if (sub === 'log') return this.handleLog(res, namespace, name!, q);

    if (!name && req.method === 'GET') {
      const selector = parseSelector(q.get('labelSelector'));
      if (q.get('watch') === 'true' || q.get('watch') === '1')
        return this.handleWatch(res, namespace, kind, selector, q);
      const items = [...store.values()].filter(
        o => o.metadata?.namespace === namespace && selector(o.metadata?.labels)
      );
      const listKind = { pods: 'PodList', secrets: 'SecretList', configmaps: 'ConfigMapList' }[
        kind
      ];
      return this.send(res, 200, {
        kind: listKind,
        apiVersion: 'v1',
        metadata: { resourceVersion: String(this.rv) },
        items
      });
    }

    if (!name && req.method === 'POST') {
      let obj: Obj;
      try {
        obj = (await this.body(req)) as Obj;
      } catch {
        return this.send(res, 400, status(400, 'BadRequest', 'the request body is not JSON'));
      }
      const objName = obj?.metadata?.name;
      if (!objName || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(objName) || objName.length > 253) {
        return this.send(
          res,
          422,
          status(
            422,
            'Invalid',
            `${kind} "${objName ?? ''}" is invalid: metadata.name: Invalid value`,
            { name: objName, kind: kindName }
          )
        );
      }
      if (obj.metadata!.namespace && obj.metadata!.namespace !== namespace) {
        return this.send(
          res,
          400,
          status(
            400,
            'BadRequest',
            'the namespace of the provided object does not match the namespace sent on the request'
          )
        );
      }
      const key = `${namespace}/${objName}`;
      if (store.has(key)) {
        return this.send(
          res,
          409,
          status(409, 'AlreadyExists', `${kind} "${objName}" already exists`, {
            name: objName,
            kind: kindName
          })
        );
      }
      obj.metadata!.namespace = namespace;
      this.stamp(obj);
      if (kind === 'pods') {
        const pod = obj as V1Pod;
        // the scheduler binds to the virtual node the selector names
        const host = pod.spec?.nodeSelector?.['kubernetes.io/hostname'];
        if (host) pod.spec!.nodeName = host;
        pod.status = { phase: 'Pending', qosClass: 'Guaranteed' };
        store.set(key, pod);
        this.record('ADDED', pod);
        this.kubelet?.podCreated(clone(pod), {
          secret: n => clone(this.objects.secrets.get(`${namespace}/${n}`) as V1Secret | undefined),
          configMap: n =>
            clone(this.objects.configmaps.get(`${namespace}/${n}`) as V1ConfigMap | undefined)
        });
      } else {
        store.set(key, obj);
      }
      return this.send(res, 201, obj);
    }

    const key = `${namespace}/${name}`;
    const existing = store.get(key);
    const notFound = () =>
      this.send(
        res,
        404,
        status(404, 'NotFound', `${kind} "${name}" not found`, { name, kind: kindName })
      );

    if (req.method === 'GET') return existing ? this.send(res, 200, existing) : notFound();

    if (req.method === 'PUT') {
      if (!existing) return notFound();
      const obj = (await this.body(req)) as Obj;
      obj.metadata = {
        ...obj.metadata,
        namespace,
        name,
        uid: existing.metadata!.uid,
        creationTimestamp: existing.metadata!.creationTimestamp
      };
      this.stamp(obj);
      store.set(key, obj);
      return this.send(res, 200, obj);
    }

    if (req.method === 'DELETE') {
      if (!existing) return notFound();
      if (kind !== 'pods') {
        store.delete(key);
        return this.send(res, 200, {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Success',
          details: { name, kind: kindName, uid: existing.metadata!.uid }
        });
      }
      const pod = existing as V1Pod;
      if (!pod.metadata!.deletionTimestamp) {
        pod.metadata!.deletionTimestamp = new Date();
        pod.metadata!.deletionGracePeriodSeconds = 30;
        this.bump(pod, 'MODIFIED');
        void this.finishDeletion(key, pod);
      }
      return this.send(res, 200, pod);
    }
    return this.send(res, 405, status(405, 'MethodNotAllowed', `${req.method} is not supported`));
  }

  private async finishDeletion(key: string, pod: V1Pod): Promise<void> {
    if (this.kubelet) await this.kubelet.podDeleting(clone(pod)).catch(() => undefined);
    else await new Promise(r => setTimeout(r, this.deletionDelayMs));
    if (this.objects.pods.get(key) !== pod) return;
    this.objects.pods.delete(key);
    this.bump(pod, 'DELETED');
    this.endLogs(key);
  }

  private handleWatch(
    res: ServerResponse,
    namespace: string,
    kind: Kind,
    selector: Selector,
    q: URLSearchParams
  ): void {
    if (kind !== 'pods')
      return this.send(res, 405, status(405, 'MethodNotAllowed', 'only pods are watched here'));
    const from = q.get('resourceVersion');
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    const matches = (p: V1Pod) =>
      p.metadata?.namespace === namespace && selector(p.metadata?.labels);
    if (!from || from === '0') {
      // "any version": the current state as ADDED events, then changes
      for (const p of this.objects.pods.values())
        if (matches(p as V1Pod)) this.writeLine(res, { type: 'ADDED', object: p });
    } else {
      const rv = Number(from);
      if (!Number.isFinite(rv) || rv < this.minRv) {
        this.writeLine(res, {
          type: 'ERROR',
          object: status(410, 'Expired', `too old resource version: ${from} (${this.rv})`)
        });
        res.end();
        return;
      }
      for (const ev of this.history)
        if (ev.rv > rv && matches(ev.object))
          this.writeLine(res, { type: ev.type, object: ev.object });
    }
    const w: Watcher = { namespace, selector, res };
    this.watchers.add(w);
    res.on('close', () => this.watchers.delete(w));
    const timeout = Number(q.get('timeoutSeconds'));
    if (timeout > 0) {
      const t = setTimeout(() => res.end(), timeout * 1000);
      res.on('close', () => clearTimeout(t));
    }
  }

  private async handleLog(
    res: ServerResponse,
    namespace: string,
    name: string,
    q: URLSearchParams
  ): Promise<void> {
    const key = `${namespace}/${name}`;
    const pod = this.objects.pods.get(key) as V1Pod | undefined;
    if (!pod)
      return this.send(
        res,
        404,
        status(404, 'NotFound', `pods "${name}" not found`, { name, kind: 'pods' })
      );
    const container = q.get('container') ?? pod.spec?.containers[0]?.name ?? '';
    if (!pod.spec?.containers.some(c => c.name === container)) {
      return this.send(
        res,
        400,
        status(400, 'BadRequest', `container ${container} is not valid for pod ${name}`)
      );
    }
    const follow = q.get('follow') === 'true';
    const tailLines = q.has('tailLines') ? Number(q.get('tailLines')) : undefined;
    if (this.kubelet) {
      const stream = await this.kubelet.logs(pod, container, { follow, tailLines });
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
      res.on('close', () => stream.destroy());
      stream.pipe(res);
      return;
    }
    const log = this.logOf(key);
    let text = log.text;
    if (tailLines !== undefined) {
      const lines = text.split(/(?<=\n)/);
      text = lines.slice(Math.max(0, lines.length - tailLines)).join('');
    }
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
    res.write(text);
    if (!follow || TERMINAL.has(pod.status?.phase ?? '') || !this.objects.pods.has(key))
      return void res.end();
    const listener = (chunk: string) => {
      if (chunk === '\0end') {
        log.listeners.delete(listener);
        res.end();
      } else res.write(chunk);
    };
    log.listeners.add(listener);
    res.on('close', () => log.listeners.delete(listener));
  }
}
