/**
 * What a site driver is: it places one pod model on its backend and reports what becomes of it.
 * The proxy server talks to every backend through this interface only.
 */
import type { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import type { V1ConfigMap, V1Pod, V1Secret } from '@kubernetes/client-node';
import type { QueueInfo, SessionType, SiteHealth, SiteKind } from '@jupyterlab-interlink/contract';

/** Labels and annotations every pod of ours carries; re-adoption after a restart reads them back. */
export const LABELS = {
  managedBy: 'app.kubernetes.io/managed-by',
  name: 'app.kubernetes.io/name',
  component: 'app.kubernetes.io/component',
  session: 'interlink.jupyter.org/session',
  user: 'interlink.jupyter.org/user',
  site: 'interlink.jupyter.org/site',
  profile: 'interlink.jupyter.org/profile',
  type: 'interlink.jupyter.org/type'
} as const;
export const MANAGED_BY = 'jupyterlab-interlink';
export const ANNOTATIONS = {
  /** The hub user name as given (labels must be DNS-safe, annotations need not be). */
  user: 'interlink.jupyter.org/user',
  groups: 'interlink.jupyter.org/groups',
  createdAt: 'interlink.jupyter.org/created-at',
  walltime: 'interlink.jupyter.org/walltime-seconds',
  /** sha256 of the tunnel secret, so a restarted proxy server can still check the agent. */
  secretHash: 'interlink.jupyter.org/secret-sha256',
  name: 'interlink.jupyter.org/name',
  path: 'interlink.jupyter.org/path',
  slurmFlags: 'slurm-job.vk.io/flags',
  slurmPreExec: 'slurm-job.vk.io/pre-exec'
} as const;

export interface ProfileConfig {
  id: string;
  displayName: string;
  description?: string;
  resources: { cpu: number; memory: string; gpu: number; gpuType?: string };
  /** seconds */
  maxWalltime: number;
  /** seconds */
  defaultWalltime?: number;
  /** Extra `#SBATCH` flags for this profile, e.g. `--qos=boost_qos_dbg`. */
  slurmFlags?: string[];
  /** Overrides the site's partition. */
  partition?: string;
}

export interface SiteToleration {
  key: string;
  operator?: 'Exists' | 'Equal';
  value?: string;
  effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

/** Prefixes of the annotations interLink's plugins read (Slurm's, HTCondor's). */
export const PLUGIN_ANNOTATION_PREFIXES = ['slurm-job.vk.io/', 'htcondor-job.vk.io/'];

export interface SiteConfig {
  id: string;
  displayName: string;
  kind: SiteKind;
  description?: string;
  driver: 'kubernetes' | 'interlink' | 'local' | 'slurm';
  /** seconds; caps every profile */
  maxWalltime?: number;
  /** The interLink virtual node: nodeSelector labels, e.g. {'kubernetes.io/hostname': 'leonardo-vk'}. */
  nodeSelector?: Record<string, string>;
  namespace?: string;
  /** Container image of the agent (the Jupyter server + tunnel agent) on the remote side. */
  image?: string;
  /** Slurm: partition, account, extra flags (become `slurm-job.vk.io/flags`), pre-exec. */
  slurm?: {
    partition?: string;
    account?: string;
    flags?: string[];
    preExec?: string;
    /** slurm driver: SLURM_CONF for sbatch/squeue/scancel (default: Slurm's own lookup). */
    conf?: string;
    /** slurm driver: where job scripts, secrets and output live; must be visible to compute nodes. */
    workDir?: string;
  };
  /**
   * Annotations for the site's interLink plugin, passed on as they are: `slurm-job.vk.io/…`
   * (image-root, singularity-options, singularity-mounts, mpi-flags, enroot-…, flavor) or
   * `htcondor-job.vk.io/…`. Flags and pre-exec come from `slurm`, not from here.
   */
  pluginAnnotations?: Record<string, string>;
  /** Tolerations the site's virtual node needs beyond interLink's own (its configured taints). */
  tolerations?: SiteToleration[];
  /**
   * interlink driver: the interLink API's URL (`unix:///path/api.sock`, `https://…`, `http://…`),
   * a file holding the bearer token; for https, a CA file to trust (instead of the system's), a
   * client certificate and key (mTLS), or `insecure` to skip verifying the server.
   */
  interlink?: {
    url: string;
    tokenFile?: string;
    token?: string;
    caFile?: string;
    certFile?: string;
    keyFile?: string;
    insecure?: boolean;
    /**
     * One pod per /status call, for plugins that answer for the first pod of a list only
     * (interLink's HTCondor plugin): interLink answers the others from its cache.
     */
    statusPerPod?: boolean;
  };
  /** kubernetes driver: kubeconfig path (default: in-cluster, then ~/.kube/config). */
  kubernetes?: { kubeconfig?: string; context?: string };
  /** The agent's argv inside this site's jobs (default: `interlink-agent` from the image). */
  agentCommand?: string[];
  /** local driver: optional bubblewrap isolation (off by default) and the default working directory. */
  local?: { isolation?: 'none' | 'bubblewrap'; workingDir?: string };
  /** Per-user limit of live sessions on this site. */
  maxSessionsPerUser?: number;
  profiles: ProfileConfig[];
}

export interface UserIdentity {
  name: string;
  groups?: string[];
}

/** Everything needed to build the pod of one launch. */
export interface LaunchSpec {
  sessionId: string;
  site: SiteConfig;
  profile: ProfileConfig;
  user: UserIdentity;
  type: SessionType;
  /** seconds */
  walltime: number;
  createdAt: string;
  name?: string;
  /** job sessions: a notebook or script path, or a command */
  path?: string;
  command?: string[];
  /** How the agent reaches the proxy server and proves who it is. */
  agent: {
    /** ws(s)://…/interlink/tunnel */
    tunnelUrl: string;
    /** The session's secret, plaintext: goes into a Secret, never into plain env. */
    secret: string;
    secretHash: string;
    /** base_url the remote Jupyter server must serve under, e.g. /interlink/sessions/<id>/ */
    baseUrl: string;
    /** The agent's command inside the container, e.g. ['node', '/opt/interlink/agent.js']. */
    command: string[];
    /** Extra environment for the agent (e.g. HTTPS_PROXY); never secrets. */
    env?: Record<string, string>;
  };
}

/** The pod and the objects it mounts, as the Kubernetes driver would create them. */
export interface PodBundle {
  pod: V1Pod;
  secrets: V1Secret[];
  configMaps: V1ConfigMap[];
}

export type BackendPhase =
  /** accepted, not yet seen by the scheduler */
  | 'pending'
  /** waiting in the scheduler's queue */
  | 'queued'
  /** containers running */
  | 'running'
  | 'succeeded'
  | 'failed'
  /** the backend no longer knows the pod (deleted) */
  | 'gone';

export interface BackendStatus {
  phase: BackendPhase;
  /** in words, for failed: e.g. `exit code 1`, `OOMKilled`, `SlurmJobTimeout` */
  reason?: string;
  exitCode?: number;
  /** the walltime ran out (activeDeadlineSeconds, Slurm TIMEOUT) */
  expired?: boolean;
  queue?: QueueInfo;
  /** Slurm job id, pod name, process id */
  backendId?: string;
  startedAt?: string;
}

/** A pod the driver found on its backend at start: the proxy server re-adopts it. */
export interface ObservedPod {
  sessionId: string;
  pod: V1Pod;
  status: BackendStatus;
}

export interface LogOptions {
  follow?: boolean;
  /** last N lines */
  tail?: number;
  signal?: AbortSignal;
}

export interface DriverEvents {
  /** A session's backend status changed. Emitted once per change, not per poll. */
  update: [sessionId: string, status: BackendStatus];
  /** Site health changed. */
  health: [health: SiteHealth];
}

export interface Driver extends EventEmitter<DriverEvents> {
  readonly kind: SiteConfig['driver'];
  /** Begin following the backend; returns the pods of ours it already has (for re-adoption). */
  start(): Promise<ObservedPod[]>;
  create(bundle: PodBundle): Promise<{ backendId: string }>;
  /** Stop the session's pod; resolves once the backend accepted the deletion. Idempotent. */
  delete(sessionId: string): Promise<void>;
  logs(sessionId: string, options?: LogOptions): Promise<Readable>;
  health(): Promise<SiteHealth>;
  close(): Promise<void>;
}
