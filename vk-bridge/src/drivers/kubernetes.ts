/**
 * Kubernetes driver: places the pod (and its Secret) on the site's interLink virtual node and
 * follows all of the site's pods with ONE informer (list + watch by label selector, relist on
 * 410 Gone), never a poll per session. On start it lists what is already there, for re-adoption.
 */
import { EventEmitter } from 'node:events';
import { PassThrough, type Readable } from 'node:stream';
import {
  CoreV1Api,
  KubeConfig,
  Log,
  makeInformer,
  type Informer,
  type ObjectCache,
  type V1Pod
} from '@kubernetes/client-node';
import type { SiteHealth } from '@jupyterlab-interlink/contract';
import { DriverError } from '../errors.js';
import { createPreamble } from './core.js';
import { AGENT_CONTAINER, GPU_RESOURCE, labelValue, memoryLimitOf } from '../pod.js';
import { lastLine, outOfMemoryReason, withLogLine } from '../reasons.js';
import {
  LABELS,
  MANAGED_BY,
  type BackendStatus,
  type Driver,
  type DriverEvents,
  type LogOptions,
  type ObservedPod,
  type PodBundle,
  type SiteConfig
} from '../types.js';

export interface KubernetesDriverOptions {
  /** Defaults to site.kubernetes.kubeconfig, else in-cluster, KUBECONFIG or ~/.kube/config. */
  kubeConfig?: KubeConfig;
  /** First wait before restarting a failed watch, ms (doubles up to 30 s). */
  retryMs?: number;
}

function httpCode(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e?.code === 'number') return e.code;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  return undefined;
}

function describe(err: unknown): string {
  const e = err as { body?: unknown; message?: string };
  if (typeof e?.body === 'string') {
    try {
      const s = JSON.parse(e.body) as { message?: string };
      if (s.message) return s.message;
    } catch {
      return e.body;
    }
  }
  if (e?.body && typeof e.body === 'object' && 'message' in e.body)
    return String((e.body as { message: unknown }).message);
  return e?.message ?? String(err);
}

/**
 * A pod's status in our terms. Pending on the virtual node means waiting in the remote queue;
 * activeDeadlineSeconds ends as `DeadlineExceeded`, Slurm's TIMEOUT as `SlurmJobTimeout`.
 */
export function podToStatus(pod: V1Pod): BackendStatus {
  const st = pod.status ?? {};
  const backendId = pod.metadata?.name;
  const ctr =
    st.containerStatuses?.find(c => c.name === AGENT_CONTAINER) ?? st.containerStatuses?.[0];
  const startedAt = st.startTime ? new Date(st.startTime).toISOString() : undefined;
  switch (st.phase) {
    case 'Running':
      return { phase: 'running', backendId, startedAt };
    case 'Succeeded':
      return { phase: 'succeeded', backendId, exitCode: 0, startedAt };
    case 'Failed': {
      if (st.reason === 'DeadlineExceeded')
        return { phase: 'failed', backendId, reason: 'DeadlineExceeded', expired: true, startedAt };
      const t = ctr?.state?.terminated;
      if (t?.reason === 'SlurmJobTimeout')
        return {
          phase: 'failed',
          backendId,
          reason: 'SlurmJobTimeout',
          expired: true,
          exitCode: t.exitCode,
          startedAt
        };
      if (t?.reason === 'OOMKilled') {
        return {
          phase: 'failed',
          backendId,
          reason: outOfMemoryReason(ctr ? memoryLimitOf(pod, ctr.name) : undefined),
          exitCode: t.exitCode,
          startedAt
        };
      }
      if (t)
        return {
          phase: 'failed',
          backendId,
          // the message: the log's end (FallbackToLogsOnError) or what the container wrote there
          reason: withLogLine(`exit code ${t.exitCode}`, lastLine(t.message ?? '')),
          exitCode: t.exitCode,
          startedAt
        };
      return { phase: 'failed', backendId, reason: st.reason ?? st.message ?? 'Failed', startedAt };
    }
    default: {
      const unschedulable = st.conditions?.find(
        c => c.type === 'PodScheduled' && c.status === 'False'
      );
      if (!pod.spec?.nodeName) {
        return {
          phase: 'pending',
          backendId,
          queue: unschedulable?.message ? { reason: unschedulable.message } : undefined
        };
      }
      const waiting = ctr?.state?.waiting;
      const reason = waiting?.message || waiting?.reason;
      return { phase: 'queued', backendId, queue: reason ? { reason } : {} };
    }
  }
}

export class KubernetesDriver extends EventEmitter<DriverEvents> implements Driver {
  readonly kind = 'kubernetes' as const;
  readonly namespace: string;
  readonly labelSelector: string;
  private readonly kc: KubeConfig;
  private readonly core: CoreV1Api;
  private informer?: Informer<V1Pod> & ObjectCache<V1Pod>;
  private readonly known = new Map<string, string>();
  private retryMs: number;
  private retryTimer?: NodeJS.Timeout;
  private closed = false;
  /** Informer (re)starts, i.e. lists; for tests and metrics. */
  restarts = 0;

  constructor(
    readonly site: SiteConfig,
    private readonly options: KubernetesDriverOptions = {}
  ) {
    super();
    this.namespace = site.namespace ?? 'default';
    this.labelSelector = `${LABELS.managedBy}=${MANAGED_BY},${LABELS.site}=${labelValue(site.id)}`;
    this.kc = options.kubeConfig ?? KubernetesDriver.loadConfig(site);
    this.core = this.kc.makeApiClient(CoreV1Api);
    this.retryMs = options.retryMs ?? 1000;
  }

  static loadConfig(site: SiteConfig): KubeConfig {
    const kc = new KubeConfig();
    if (site.kubernetes?.kubeconfig) kc.loadFromFile(site.kubernetes.kubeconfig);
    else kc.loadFromDefault();
    if (site.kubernetes?.context) kc.setCurrentContext(site.kubernetes.context);
    return kc;
  }

  async start(): Promise<ObservedPod[]> {
    let pods: V1Pod[];
    try {
      const list = await this.core.listNamespacedPod({
        namespace: this.namespace,
        labelSelector: this.labelSelector
      });
      pods = list.items;
    } catch (err) {
      throw new DriverError(
        'Unavailable',
        `site "${this.site.id}": cannot list pods in namespace ${this.namespace}: ${describe(err)}`,
        { cause: err }
      );
    }
    const observed: ObservedPod[] = [];
    for (const pod of pods) {
      const id = pod.metadata?.labels?.[LABELS.session];
      if (!id || observed.some(o => o.sessionId === id)) continue;
      const status = podToStatus(pod);
      this.known.set(id, JSON.stringify(status));
      observed.push({ sessionId: id, pod, status });
    }
    this.startInformer();
    return observed;
  }

  private startInformer(): void {
    const path = `/api/v1/namespaces/${this.namespace}/pods`;
    const informer = makeInformer<V1Pod>(
      this.kc,
      path,
      async () => {
        this.restarts++;
        const list = await this.core.listNamespacedPod({
          namespace: this.namespace,
          labelSelector: this.labelSelector
        });
        // what vanished while nobody watched (before the first list, or before a relist) is gone
        const present = new Set(list.items.map(p => p.metadata?.labels?.[LABELS.session]));
        for (const id of [...this.known.keys()]) {
          if (present.has(id)) continue;
          this.known.delete(id);
          this.emit('update', id, { phase: 'gone', backendId: `interlink-${id}` });
        }
        return list;
      },
      this.labelSelector
    );
    informer.on('add', pod => this.observe(pod));
    informer.on('update', pod => this.observe(pod));
    informer.on('delete', pod => this.gone(pod));
    informer.on('connect', () => {
      this.retryMs = this.options.retryMs ?? 1000;
    });
    // the informer relists on 410 by itself; any other error stops it, so restart with backoff
    informer.on('error', err => {
      if (this.closed) return;
      this.emit('health', {
        status: 'degraded',
        message: `watch failed: ${describe(err)}`,
        checkedAt: new Date().toISOString()
      });
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => {
        if (!this.closed) void informer.start();
      }, this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 30000);
    });
    this.informer = informer;
    void informer.start();
  }

  private observe(pod: V1Pod): void {
    const id = pod.metadata?.labels?.[LABELS.session];
    if (!id) return;
    const status = podToStatus(pod);
    const key = JSON.stringify(status);
    if (this.known.get(id) === key) return;
    this.known.set(id, key);
    this.emit('update', id, status);
  }

  private gone(pod: V1Pod): void {
    const id = pod.metadata?.labels?.[LABELS.session];
    if (!id || !this.known.has(id)) return;
    this.known.delete(id);
    this.emit('update', id, { ...podToStatus(pod), phase: 'gone' });
    // its Secret goes with it, also when someone else deleted the pod
    for (const v of pod.spec?.volumes ?? []) {
      if (v.secret?.secretName) {
        this.core
          .deleteNamespacedSecret({ name: v.secret.secretName, namespace: this.namespace })
          .catch(() => undefined);
      }
    }
  }

  async create(bundle: PodBundle): Promise<{ backendId: string }> {
    createPreamble(bundle.pod, this.closed);
    const namespace = this.namespace;
    await this.createMounted(bundle, namespace);
    try {
      const pod = await this.core.createNamespacedPod({
        namespace,
        body: { ...bundle.pod, metadata: { ...bundle.pod.metadata, namespace } }
      });
      return { backendId: pod.metadata?.name ?? bundle.pod.metadata!.name! };
    } catch (err) {
      if (httpCode(err) === 409)
        throw new DriverError('AlreadyExists', `pod ${bundle.pod.metadata?.name} already exists`, {
          cause: err
        });
      throw new DriverError('Backend', `creating pod: ${describe(err)}`, { cause: err });
    }
  }

  /** The Secrets and ConfigMaps a pod mounts; one left over by an interrupted create is replaced: this launch's wins. */
  private async createMounted(bundle: PodBundle, namespace: string): Promise<void> {
    const objects = [
      ...bundle.secrets.map(o => ({ secret: true, o })),
      ...bundle.configMaps.map(o => ({ secret: false, o }))
    ];
    for (const { secret, o } of objects) {
      const body = { ...o, metadata: { ...o.metadata, namespace } };
      const name = o.metadata!.name!;
      try {
        await (secret
          ? this.core.createNamespacedSecret({ namespace, body })
          : this.core.createNamespacedConfigMap({ namespace, body }));
      } catch (err) {
        if (httpCode(err) !== 409) {
          const what = secret ? 'secret' : 'config map';
          throw new DriverError('Backend', `creating ${what}: ${describe(err)}`, { cause: err });
        }
        await (secret
          ? this.core.replaceNamespacedSecret({ name, namespace, body })
          : this.core.replaceNamespacedConfigMap({ name, namespace, body }));
      }
    }
  }

  private podOf(sessionId: string): V1Pod | undefined {
    return this.informer
      ?.list(this.namespace)
      .find(p => p.metadata?.labels?.[LABELS.session] === sessionId);
  }

  async delete(sessionId: string): Promise<void> {
    const name = this.podOf(sessionId)?.metadata?.name ?? `interlink-${sessionId}`;
    try {
      await this.core.deleteNamespacedPod({ name, namespace: this.namespace });
    } catch (err) {
      if (httpCode(err) !== 404)
        throw new DriverError('Backend', `deleting pod ${name}: ${describe(err)}`, { cause: err });
    }
    try {
      await this.core.deleteNamespacedSecret({ name: `${name}-secret`, namespace: this.namespace });
    } catch (err) {
      if (httpCode(err) !== 404)
        throw new DriverError('Backend', `deleting secret of ${name}: ${describe(err)}`, {
          cause: err
        });
    }
  }

  async logs(sessionId: string, options: LogOptions = {}): Promise<Readable> {
    const name = this.podOf(sessionId)?.metadata?.name ?? `interlink-${sessionId}`;
    const out = new PassThrough();
    let controller: AbortController;
    try {
      controller = await new Log(this.kc).log(this.namespace, name, AGENT_CONTAINER, out, {
        follow: options.follow ?? false,
        tailLines: options.tail
      });
    } catch (err) {
      const code = httpCode(err);
      if (code === 404)
        throw new DriverError('NotFound', `no pod ${name} for session ${sessionId}`, {
          cause: err
        });
      throw new DriverError('Backend', `logs of ${name}: ${describe(err)}`, { cause: err });
    }
    const stop = () => controller.abort();
    options.signal?.addEventListener('abort', () => {
      stop();
      out.end();
    });
    out.on('close', stop);
    return out;
  }

  async health(): Promise<SiteHealth> {
    const checkedAt = new Date().toISOString();
    let pods: V1Pod[];
    try {
      pods = (
        await this.core.listNamespacedPod({
          namespace: this.namespace,
          labelSelector: this.labelSelector
        })
      ).items;
    } catch (err) {
      return { status: 'down', message: `API server: ${describe(err)}`, checkedAt };
    }
    const host = this.site.nodeSelector?.['kubernetes.io/hostname'];
    if (!host) return { status: 'ok', checkedAt };
    try {
      const node = await this.core.readNode({ name: host });
      const ready = node.status?.conditions?.find(c => c.type === 'Ready')?.status === 'True';
      const gpus = Number(node.status?.allocatable?.[GPU_RESOURCE] ?? 0);
      const used = pods
        .filter(p => !['Succeeded', 'Failed'].includes(p.status?.phase ?? ''))
        .reduce(
          (n, p) => n + Number(p.spec?.containers[0]?.resources?.limits?.[GPU_RESOURCE] ?? 0),
          0
        );
      return {
        status: ready ? 'ok' : 'degraded',
        message: ready ? undefined : `virtual node ${host} is not Ready`,
        freeGpus: Math.max(0, gpus - used),
        checkedAt
      };
    } catch {
      // reading nodes may not be allowed to us: the API answered, that is health enough
      return { status: 'ok', checkedAt };
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    await this.informer?.stop();
  }
}
