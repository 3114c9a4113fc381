/**
 * A Kubernetes site whose API server is the fake one, for tests in any package, and the pod
 * status of a container that ended.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1PodStatus } from '@kubernetes/client-node';
import type { SiteConfig } from '../types.js';
import type { FakeApiServer } from './fake-apiserver.js';

/** "Leonardo" behind an interLink virtual node, with one 1×A100 profile; its kubeconfig in `dir`. */
export async function leonardoOnFakeApi(
  fake: FakeApiServer,
  dir: string,
  namespace: string
): Promise<SiteConfig> {
  const kubeconfig = join(dir, 'kubeconfig.json');
  await writeFile(kubeconfig, fake.kubeConfig(namespace).exportConfig());
  return {
    id: 'leonardo',
    displayName: 'Leonardo',
    kind: 'hpc',
    driver: 'kubernetes',
    namespace,
    nodeSelector: { 'kubernetes.io/hostname': 'leonardo-vk' },
    kubernetes: { kubeconfig },
    profiles: [
      {
        id: 'a100',
        displayName: '1×A100',
        resources: { cpu: 8, memory: '64Gi', gpu: 1 },
        maxWalltime: 4 * 3600
      }
    ]
  };
}

/** A failed pod whose agent container terminated with this reason and exit code. */
export function terminatedAgent(reason: string, exitCode: number): V1PodStatus {
  return {
    phase: 'Failed',
    containerStatuses: [
      {
        name: 'agent',
        image: '',
        imageID: '',
        ready: false,
        restartCount: 0,
        state: { terminated: { reason, exitCode } }
      }
    ]
  };
}
