/**
 * For tests: the virtual node behind the fake API server. Pods created there really run, through
 * the local executor, and their status and logs flow back the way a (virtual) kubelet reports
 * them, so the kubernetes driver is tested against running processes.
 */
import type { V1ContainerStatus, V1Pod, V1PodStatus } from '@kubernetes/client-node';
import { LocalDriver } from '../drivers/local.js';
import type { FakeApiServer, FakeKubelet } from './fake-apiserver.js';
import type { BackendStatus, SiteConfig } from '../types.js';
import { LABELS } from '../types.js';

/** `message`: what a kubelet puts in a failed container's status (its log's end, FallbackToLogsOnError). */
export function podStatusOf(pod: V1Pod, s: BackendStatus, message?: string): V1PodStatus {
  const name = pod.spec!.containers[0].name;
  const started = s.startedAt ? new Date(s.startedAt) : undefined;
  const container = (state: V1ContainerStatus['state'], ready = false): V1ContainerStatus[] => [
    { name, image: pod.spec!.containers[0].image ?? '', imageID: '', ready, restartCount: 0, state }
  ];
  switch (s.phase) {
    case 'running':
      return {
        phase: 'Running',
        startTime: started,
        containerStatuses: container({ running: { startedAt: started } }, true)
      };
    case 'succeeded':
      return {
        phase: 'Succeeded',
        containerStatuses: container({ terminated: { exitCode: 0, reason: 'Completed' } })
      };
    case 'failed':
      if (s.expired) {
        return {
          phase: 'Failed',
          reason: 'DeadlineExceeded',
          message: 'Pod was active on the node longer than the specified deadline'
        };
      }
      return {
        phase: 'Failed',
        containerStatuses: container({
          terminated: { exitCode: s.exitCode ?? 1, reason: 'Error', message }
        })
      };
    default:
      return {
        phase: 'Pending',
        containerStatuses: container({ waiting: { reason: 'ContainerCreating' } })
      };
  }
}

export class LocalKubelet implements FakeKubelet {
  readonly driver: LocalDriver;
  private readonly pods = new Map<string, V1Pod>();

  constructor(
    private readonly server: FakeApiServer,
    site: SiteConfig,
    stateDir: string
  ) {
    this.driver = new LocalDriver(site, { stateDir, killGraceMs: 1000 });
    this.driver.on('update', (id, s) => {
      const pod = this.pods.get(id);
      if (!pod || s.phase === 'gone') return;
      const set = (message?: string) =>
        this.server.setPodStatus(
          pod.metadata!.namespace!,
          pod.metadata!.name!,
          podStatusOf(pod, s, message)
        );
      if (s.phase !== 'failed' || s.expired) return set();
      // like the kubelet: the log's last 80 lines, at most 2048 bytes
      void this.driver
        .logs(id, { tail: 80 })
        .then(async log => {
          const chunks: Buffer[] = [];
          for await (const c of log) chunks.push(Buffer.from(c as Buffer));
          return Buffer.concat(chunks).subarray(-2048).toString('utf8');
        })
        .catch(() => undefined)
        .then(set);
    });
    server.attachKubelet(this);
  }

  podCreated(pod: V1Pod, objects: Parameters<FakeKubelet['podCreated']>[1]): void {
    const id = pod.metadata!.labels![LABELS.session];
    this.pods.set(id, pod);
    const secrets = (pod.spec!.volumes ?? [])
      .flatMap(v => (v.secret ? [objects.secret(v.secret.secretName!)!] : []))
      .filter(Boolean);
    const configMaps = (pod.spec!.volumes ?? [])
      .flatMap(v => (v.configMap ? [objects.configMap(v.configMap.name!)!] : []))
      .filter(Boolean);
    this.driver.create({ pod, secrets, configMaps }).catch(err => {
      this.server.setPodStatus(pod.metadata!.namespace!, pod.metadata!.name!, {
        phase: 'Failed',
        reason: 'ProviderFailed',
        message: String(err)
      });
    });
  }

  async podDeleting(pod: V1Pod): Promise<void> {
    await this.driver.delete(pod.metadata!.labels![LABELS.session]);
  }

  logs(pod: V1Pod, _container: string, options: { follow: boolean; tailLines?: number }) {
    return this.driver.logs(pod.metadata!.labels![LABELS.session], {
      follow: options.follow,
      tail: options.tailLines
    });
  }

  async close(): Promise<void> {
    await this.driver.close();
  }
}
