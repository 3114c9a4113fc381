/**
 * What a site driver is: it places one pod model on its backend and reports what becomes of it.
 * The proxy server talks to every backend through this interface only.
 */
import type { Account } from './accounts.js';
import type { EnvironmentConfig } from '@jupyterlab-interlink/contract/site-config';
import type { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import type { V1ConfigMap, V1Pod, V1Secret } from '@kubernetes/client-node';
import type { QueueInfo, SessionType, SiteHealth } from '@jupyterlab-interlink/contract';
import type { ProfileConfig, SiteConfig } from '@jupyterlab-interlink/contract/site-config';

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
  /** The web-app ports a session declared (JSON list), so a restart keeps serving them. */
  ports: 'interlink.jupyter.org/ports',
  /** The proxy server's HMAC over what re-adoption reads back (proxy-server/src/adoption-key.ts). */
  signature: 'interlink.jupyter.org/signature',
  /** The Unix account the job runs as (uid and gid are in the pod's securityContext). */
  account: 'interlink.jupyter.org/account',
  /** The id of the site environment the session runs in. */
  environment: 'interlink.jupyter.org/environment',
  slurmFlags: 'slurm-job.vk.io/flags',
  slurmPreExec: 'slurm-job.vk.io/pre-exec'
} as const;

/** Prefixes of the annotations interLink's plugins read (Slurm's, HTCondor's). */
export const PLUGIN_ANNOTATION_PREFIXES = ['slurm-job.vk.io/', 'htcondor-job.vk.io/'];

/** The site file's shapes: declared once, as schemas, in the contract. */
export type {
  DriverName,
  ProfileConfig,
  SiteConfig
} from '@jupyterlab-interlink/contract/site-config';

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
  /** Web-app ports the session declared (the agent forwards only these). */
  ports?: number[];
  /** The site environment the session runs in (its image, setup lines, Python). */
  environment?: EnvironmentConfig;
  /** The Unix account the job runs as (the site's runAs); none: the service's own. */
  account?: Account;
  /**
   * The agent: its command and environment are the proxy server's business (how it reaches the
   * proxy, under which path it serves), passed into the pod as they are.
   */
  agent: {
    /** The agent's command inside the container, e.g. ['node', '/opt/interlink/agent.js']. */
    command: string[];
    /** The agent's environment; never secrets. */
    env: Record<string, string>;
    /** The session's secret, plaintext: goes into a Secret mounted as a file, never into env. */
    secret: string;
    secretHash: string;
    /** The variable that tells the agent where that file is mounted. */
    secretFileEnv: string;
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
