/**
 * The one pod model: a launch (site + profile + user + session) becomes a V1Pod for the site's
 * interLink virtual node, plus the Secret it mounts. Every driver places this same object.
 */
import { createHash } from 'node:crypto';
import type { V1Container, V1EnvVar, V1Pod, V1Secret } from '@kubernetes/client-node';
import { AGENT_ENV, formatWalltime, isSessionId } from '@jupyterlab-interlink/contract';
import {
  ANNOTATIONS,
  LABELS,
  MANAGED_BY,
  type LaunchSpec,
  type PodBundle,
  type ProfileConfig,
  type SiteConfig
} from './types.js';

export const APP_NAME = 'jupyterlab-interlink';
export const AGENT_CONTAINER = 'agent';
export const SECRET_MOUNT = '/var/run/interlink/secret';
export const SECRET_KEY = 'token';
export const SECRET_FILE = `${SECRET_MOUNT}/${SECRET_KEY}`;
export const SECRET_VOLUME = 'interlink-secret';
export const DEFAULT_IMAGE = 'ghcr.io/jupyterlab-interlink/agent:latest';
export const INTERLINK_TOLERATION_KEY = 'virtual-node.interlink/no-schedule';
export const GPU_RESOURCE = 'nvidia.com/gpu';

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export function podName(sessionId: string): string {
  return `interlink-${sessionId}`;
}

export function secretName(sessionId: string): string {
  return `interlink-${sessionId}-secret`;
}

/**
 * A label value for any string: kept as is when Kubernetes accepts it, otherwise the unsafe
 * characters become `-` and a short hash keeps distinct names (`a@b`, `a.b`) distinct.
 */
export function labelValue(value: string): string {
  if (value.length <= 63 && LABEL_VALUE.test(value)) return value;
  const hash = createHash('sha256').update(value).digest('hex').slice(0, 8);
  const cleaned = value
    .replace(/[^A-Za-z0-9_.-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 63 - 9)
    .replace(/[^A-Za-z0-9]+$/, '');
  return cleaned ? `${cleaned}-${hash}` : hash;
}

/** Kubernetes CPU quantity: whole cores as `2`, fractions in millicores. */
export function cpuQuantity(cpu: number): string {
  return Number.isInteger(cpu) ? String(cpu) : `${Math.round(cpu * 1000)}m`;
}

const MEMORY_UNITS: Record<string, number> = {
  '': 1,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4
};

/** Bytes in a Kubernetes memory quantity (`512Mi`, `4Gi`, `1G`); NaN when it is not one. */
export function memoryBytes(quantity: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|K|M|G|T)?$/.exec(quantity.trim());
  if (!m) return NaN;
  return Number(m[1]) * MEMORY_UNITS[m[2] ?? ''];
}

/** A container's memory limit in bytes (the agent's by default), or undefined when it has none. */
export function memoryLimitOf(pod: V1Pod, container = AGENT_CONTAINER): number | undefined {
  const limit = pod.spec?.containers.find(c => c.name === container)?.resources?.limits?.memory;
  const bytes = limit === undefined ? NaN : memoryBytes(String(limit));
  return Number.isFinite(bytes) ? bytes : undefined;
}

/** Slurm's `--mem` takes megabytes (MiB); rounded up so a profile never gets less than it asked. */
export function slurmMem(quantity: string): string {
  return `${Math.ceil(memoryBytes(quantity) / 1024 ** 2)}M`;
}

/**
 * The `slurm-job.vk.io/flags` value: the interLink Slurm plugin turns each flag into an `#SBATCH`
 * line and adds no `--gres` by itself, so GPUs, time, CPUs and memory are all spelled out here.
 */
export function slurmFlags(site: SiteConfig, profile: ProfileConfig, walltime: number): string[] {
  const flags: string[] = [];
  const partition = profile.partition ?? site.slurm?.partition;
  if (partition) flags.push(`--partition=${partition}`);
  if (site.slurm?.account) flags.push(`--account=${site.slurm.account}`);
  flags.push(...(site.slurm?.flags ?? []), ...(profile.slurmFlags ?? []));
  const { cpu, memory, gpu } = profile.resources;
  if (gpu > 0) flags.push(`--gres=gpu:${gpu}`);
  // Slurm counts time in whole minutes: round up so a short walltime is not zero
  flags.push(`--time=${formatWalltime(Math.max(60, Math.ceil(walltime / 60) * 60))}`);
  flags.push(`--cpus-per-task=${Math.max(1, Math.ceil(cpu))}`);
  flags.push(`--mem=${slurmMem(memory)}`);
  return flags;
}

/** Slurm flags go on pods for sites that run Slurm (or might: HPC, or flags given). */
function takesSlurmFlags(site: SiteConfig, flags: string[]): boolean {
  return site.kind === 'hpc' || site.driver === 'slurm' || !!site.slurm || flags.length > 0;
}

export function buildPod(spec: LaunchSpec): PodBundle {
  const { site, profile, user, sessionId } = spec;
  if (!isSessionId(sessionId)) {
    throw new Error(
      `session id ${JSON.stringify(sessionId)} must be a DNS label of at most 40 characters`
    );
  }
  const name = podName(sessionId);
  const namespace = site.namespace ?? 'default';
  const labels: Record<string, string> = {
    [LABELS.managedBy]: MANAGED_BY,
    [LABELS.name]: APP_NAME,
    [LABELS.component]: spec.type === 'job' ? 'job' : 'kernel',
    [LABELS.session]: sessionId,
    [LABELS.user]: labelValue(user.name),
    [LABELS.site]: labelValue(site.id),
    [LABELS.profile]: labelValue(profile.id),
    [LABELS.type]: spec.type
  };
  const annotations: Record<string, string> = {
    [ANNOTATIONS.user]: user.name,
    [ANNOTATIONS.groups]: JSON.stringify(user.groups ?? []),
    [ANNOTATIONS.createdAt]: spec.createdAt,
    [ANNOTATIONS.walltime]: String(spec.walltime),
    [ANNOTATIONS.secretHash]: spec.agent.secretHash
  };
  if (spec.name) annotations[ANNOTATIONS.name] = spec.name;
  if (spec.path) annotations[ANNOTATIONS.path] = spec.path;
  if (spec.ports?.length) annotations[ANNOTATIONS.ports] = JSON.stringify(spec.ports);
  Object.assign(annotations, site.pluginAnnotations);
  const profileFlags = profile.slurmFlags ?? [];
  if (takesSlurmFlags(site, profileFlags)) {
    annotations[ANNOTATIONS.slurmFlags] = slurmFlags(site, profile, spec.walltime).join(' ');
    if (site.slurm?.preExec) annotations[ANNOTATIONS.slurmPreExec] = site.slurm.preExec;
  }

  // the agent's environment as the launch gives it, and where its secret is mounted
  const env: Record<string, string> = {
    ...spec.agent.env,
    [spec.agent.secretFileEnv]: SECRET_FILE
  };
  const environment = spec.environment;
  if (environment?.python) {
    // The environment's Python serves Jupyter (kernels start from it) and runs batch jobs.
    env[AGENT_ENV.jupyterCommand] = JSON.stringify([environment.python, '-m', 'jupyter_server']);
    env[AGENT_ENV.python] = environment.python;
  }
  if (environment) annotations[ANNOTATIONS.environment] = environment.id;
  if (spec.account) {
    // What a login as that account would see; the driver starts the job as it.
    Object.assign(env, { USER: spec.account.name, LOGNAME: spec.account.name });
    if (spec.account.home) env.HOME = spec.account.home;
    annotations[ANNOTATIONS.account] = spec.account.name;
  }
  const envVars: V1EnvVar[] = Object.entries(env).map(([k, value]) => ({ name: k, value }));

  const { cpu, memory, gpu } = profile.resources;
  const quantities: Record<string, string> = { cpu: cpuQuantity(cpu), memory };
  if (gpu > 0) quantities[GPU_RESOURCE] = String(gpu);

  const container: V1Container = {
    name: AGENT_CONTAINER,
    image: environment?.image ?? site.image ?? DEFAULT_IMAGE,
    command: environment?.setup
      ? // its setup lines first (module load, activate), in the shell the agent then replaces
        [
          '/bin/bash',
          '-c',
          `set -e\n${environment.setup}\nset +e\nexec "$@"`,
          'environment',
          ...spec.agent.command
        ]
      : [...spec.agent.command],
    env: envVars,
    resources: { requests: { ...quantities }, limits: { ...quantities } },
    volumeMounts: [{ name: SECRET_VOLUME, mountPath: SECRET_MOUNT, readOnly: true }],
    // a failed container's status then carries the end of its log: the reason a user reads
    terminationMessagePolicy: 'FallbackToLogsOnError'
  };

  const secret: V1Secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: secretName(sessionId),
      namespace,
      labels: { ...labels },
      annotations: { [ANNOTATIONS.secretHash]: spec.agent.secretHash }
    },
    type: 'Opaque',
    data: { [SECRET_KEY]: Buffer.from(spec.agent.secret, 'utf8').toString('base64') }
  };

  const pod: V1Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels, annotations },
    spec: {
      restartPolicy: 'Never',
      activeDeadlineSeconds: spec.walltime,
      automountServiceAccountToken: false,
      securityContext:
        spec.account?.uid !== undefined
          ? { runAsUser: spec.account.uid, runAsGroup: spec.account.gid, runAsNonRoot: true }
          : undefined,
      nodeSelector: site.nodeSelector ? { ...site.nodeSelector } : undefined,
      tolerations: [
        { key: INTERLINK_TOLERATION_KEY, operator: 'Exists' },
        ...(site.tolerations ?? []).map(t => ({ operator: 'Equal', ...t }))
      ],
      containers: [container],
      volumes: [
        {
          name: SECRET_VOLUME,
          secret: { secretName: secretName(sessionId), defaultMode: 0o400 }
        }
      ]
    }
  };
  if (!pod.spec!.nodeSelector) delete pod.spec!.nodeSelector;
  if (!pod.spec!.securityContext) delete pod.spec!.securityContext;
  return { pod, secrets: [secret], configMaps: [] };
}

/** What a pod of ours says about its session, read back from labels and annotations. */
export interface PodMetadata {
  sessionId: string;
  user: string;
  groups: string[];
  site: string;
  profile: string;
  type: 'kernel' | 'job';
  createdAt?: string;
  walltime?: number;
  secretHash?: string;
  name?: string;
  path?: string;
  ports?: number[];
  environment?: string;
}

export function readPodMetadata(pod: V1Pod): PodMetadata | null {
  const labels = pod.metadata?.labels ?? {};
  const ann = pod.metadata?.annotations ?? {};
  const sessionId = labels[LABELS.session];
  if (labels[LABELS.managedBy] !== MANAGED_BY || !sessionId) return null;
  let groups: string[] = [];
  try {
    const parsed: unknown = JSON.parse(ann[ANNOTATIONS.groups] ?? '[]');
    if (Array.isArray(parsed)) groups = parsed.map(String);
  } catch {
    groups = [];
  }
  const walltime = Number(ann[ANNOTATIONS.walltime]);
  return {
    sessionId,
    user: ann[ANNOTATIONS.user] ?? labels[LABELS.user] ?? '',
    groups,
    site: labels[LABELS.site] ?? '',
    profile: labels[LABELS.profile] ?? '',
    type: labels[LABELS.type] === 'job' ? 'job' : 'kernel',
    createdAt: ann[ANNOTATIONS.createdAt],
    walltime: Number.isFinite(walltime) && walltime > 0 ? walltime : undefined,
    secretHash: ann[ANNOTATIONS.secretHash],
    name: ann[ANNOTATIONS.name],
    path: ann[ANNOTATIONS.path],
    ports: readPorts(ann[ANNOTATIONS.ports]),
    environment: ann[ANNOTATIONS.environment]
  };
}

/** The ports annotation: valid port numbers only (anything else there was not written by us). */
function readPorts(value: string | undefined): number[] | undefined {
  if (!value) return undefined;
  try {
    const parsed: unknown = JSON.parse(value);
    if (!Array.isArray(parsed)) return undefined;
    const ports = parsed.filter(p => Number.isInteger(p) && p > 0 && p < 65536) as number[];
    return ports.length ? ports : undefined;
  } catch {
    return undefined;
  }
}
