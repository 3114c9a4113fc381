/**
 * The wire contract between the JupyterLab extension and the proxy server.
 *
 * Every type is defined once, as a JSON schema (TypeBox), so the server validates requests with the
 * same schema the front end uses to validate its form as the user types, and both compile against
 * the same static types.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { MAX_PORT, MAX_PORTS, MIN_PORT } from './ports.js';

/** `hpc` (Slurm-like batch), `htc` (HTCondor-like throughput farm), `cloud` (Kubernetes, or this machine). */
export const SiteKind = Type.Union([
  Type.Literal('hpc'),
  Type.Literal('htc'),
  Type.Literal('cloud')
]);
export type SiteKind = Static<typeof SiteKind>;

/** Kubernetes-style quantity for memory, e.g. `512Mi`, `4Gi`. */
export const MemoryQuantity = Type.String({
  pattern: '^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|K|M|G|T)?$',
  description: 'memory as a Kubernetes quantity, e.g. 512Mi or 16Gi'
});

export const Resources = Type.Object({
  cpu: Type.Number({ minimum: 0.1, description: 'CPU cores' }),
  memory: MemoryQuantity,
  gpu: Type.Integer({ minimum: 0, description: 'number of GPUs' }),
  gpuType: Type.Optional(Type.String({ description: 'GPU model shown to users, e.g. A100' }))
});
export type Resources = Static<typeof Resources>;

export const Profile = Type.Object({
  id: Type.String(),
  displayName: Type.String(),
  description: Type.Optional(Type.String()),
  resources: Resources,
  /** Longest walltime a launch with this profile may ask for, in seconds. */
  maxWalltime: Type.Integer({ minimum: 60 }),
  /** Walltime used when a launch names none, in seconds. */
  defaultWalltime: Type.Integer({ minimum: 60 })
});
export type Profile = Static<typeof Profile>;

export const HealthStatus = Type.Union([
  Type.Literal('ok'),
  Type.Literal('degraded'),
  Type.Literal('down'),
  Type.Literal('unknown')
]);
export type HealthStatus = Static<typeof HealthStatus>;

export const SiteHealth = Type.Object({
  status: HealthStatus,
  message: Type.Optional(Type.String()),
  /** Accelerators free right now, where the backend reports them (interLink's /pinglink). */
  freeGpus: Type.Optional(Type.Integer({ minimum: 0 })),
  checkedAt: Type.Optional(Type.String({ format: 'date-time' }))
});
export type SiteHealth = Static<typeof SiteHealth>;

/** An environment users may run in on a site (what it is made of stays in the site file). */
export const Environment = Type.Object({
  id: Type.String(),
  displayName: Type.String(),
  description: Type.Optional(Type.String())
});
export type Environment = Static<typeof Environment>;

export const Site = Type.Object({
  id: Type.String(),
  displayName: Type.String(),
  kind: SiteKind,
  description: Type.Optional(Type.String()),
  /** Which vk-bridge driver places this site's pods: kubernetes, interlink, local, slurm. */
  driver: Type.String(),
  profiles: Type.Array(Profile),
  /** The environments a launch may name; the first is the default. */
  environments: Type.Optional(Type.Array(Environment)),
  health: SiteHealth
});
export type Site = Static<typeof Site>;

export const SessionType = Type.Union([Type.Literal('kernel'), Type.Literal('job')]);
export type SessionType = Static<typeof SessionType>;

/** The lifecycle; `reason` is set (in words) on failed, cancelled and expired. */
export const SESSION_STATES = [
  'pending',
  'queued',
  'starting',
  'ready',
  'stopping',
  'completed',
  'failed',
  'cancelled',
  'expired'
] as const;
export const SessionState = Type.Union(SESSION_STATES.map(s => Type.Literal(s)));
export type SessionState = (typeof SESSION_STATES)[number];
export const FINAL_STATES: readonly SessionState[] = [
  'completed',
  'failed',
  'cancelled',
  'expired'
];
export function isFinalState(state: SessionState): boolean {
  return FINAL_STATES.includes(state);
}

/** Walltime limits: one minute to 30 days, in seconds. */
export const Walltime = Type.Integer({
  minimum: 60,
  maximum: 30 * 24 * 3600,
  description: 'walltime in seconds'
});

export const Ports = Type.Array(Type.Integer({ minimum: MIN_PORT, maximum: MAX_PORT }), {
  maxItems: MAX_PORTS,
  uniqueItems: true,
  description: `up to ${MAX_PORTS} distinct ports from ${MIN_PORT} to ${MAX_PORT}`
});

export const CreateSessionRequest = Type.Object(
  {
    site: Type.String({ minLength: 1, description: 'the id of a site from GET /api/sites' }),
    profile: Type.String({ minLength: 1, description: 'the id of one of the site profiles' }),
    type: SessionType,
    walltime: Type.Optional(Walltime),
    /** For `job`: what to run, relative to the user's home on the remote side (a notebook or a script). */
    path: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    /** For `job`: a command line instead of a path, as an argv array. */
    command: Type.Optional(
      Type.Array(Type.String({ maxLength: 4096 }), { minItems: 1, maxItems: 256 })
    ),
    /** A label the user chose. */
    name: Type.Optional(Type.String({ maxLength: 200 })),
    /** For `kernel`: ports of web apps in the job, served at `{url}ports/{port}/` (ports.ts). */
    ports: Type.Optional(Ports),
    /** The id of one of the site's environments (default: its first). */
    environment: Type.Optional(
      Type.String({ minLength: 1, description: 'an environment id of the site' })
    )
  },
  { additionalProperties: false }
);
export type CreateSessionRequest = Static<typeof CreateSessionRequest>;

export const QueueInfo = Type.Object({
  /** The scheduler's reason a job waits, e.g. `Resources`, `Priority`. */
  reason: Type.Optional(Type.String()),
  /** When the scheduler expects the job to start, ISO 8601. */
  expectedStart: Type.Optional(Type.String())
});
export type QueueInfo = Static<typeof QueueInfo>;

/**
 * The agent holding a session's tunnel: what it says of itself (host name and process id, as the
 * job sees them) and the address it dialled from, as the proxy saw it.
 */
export const AgentInfo = Type.Object({
  host: Type.Optional(Type.String()),
  pid: Type.Optional(Type.Integer()),
  address: Type.Optional(Type.String()),
  connectedAt: Type.String()
});
export type AgentInfo = Static<typeof AgentInfo>;

/** Another agent, holding the session's secret, took the tunnel over from the one before. */
export const AgentTakeover = Type.Object({
  at: Type.String(),
  previous: AgentInfo,
  current: AgentInfo
});
export type AgentTakeover = Static<typeof AgentTakeover>;

export const Session = Type.Object({
  id: Type.String(),
  site: Type.String(),
  profile: Type.String(),
  type: SessionType,
  name: Type.Optional(Type.String()),
  state: SessionState,
  reason: Type.Optional(Type.String()),
  exitCode: Type.Optional(Type.Integer()),
  owner: Type.String(),
  createdAt: Type.String(),
  updatedAt: Type.String(),
  startedAt: Type.Optional(Type.String()),
  /** When the walltime runs out, once the session started. */
  endsAt: Type.Optional(Type.String()),
  walltime: Type.Integer(),
  /** Where the remote Jupyter server answers, relative to the page origin, ending in `/`. */
  url: Type.String(),
  /** The backend's own handle: Slurm job id, pod name, process id. */
  backendId: Type.Optional(Type.String()),
  queue: Type.Optional(QueueInfo),
  /** Human readable startup progress, newest last. */
  progress: Type.Optional(Type.Array(Type.String())),
  /** For `job` sessions, what runs. */
  path: Type.Optional(Type.String()),
  command: Type.Optional(Type.Array(Type.String())),
  /** The ports the launch declared, each served at `{url}ports/{port}/`. */
  ports: Type.Optional(Type.Array(Type.Integer())),
  /** The site environment the session runs in, when the site offers any. */
  environment: Type.Optional(Type.String()),
  /**
   * Kernel sessions on a site with an idle limit, once its kernels have been idle long enough to
   * warn: since when, and when the session stops unless used or kept running.
   */
  idle: Type.Optional(Type.Object({ since: Type.String(), stopsAt: Type.String() })),
  /** Kernel sessions: the agent holding the tunnel now. */
  agent: Type.Optional(AgentInfo),
  /** Kernel sessions: each time a second agent took the tunnel over, newest last (at most 10). */
  takeovers: Type.Optional(Type.Array(AgentTakeover))
});
export type Session = Static<typeof Session>;

export const ErrorBody = Type.Object({
  error: Type.String({ description: 'a stable machine-readable code, e.g. invalid_field' }),
  message: Type.String({ description: 'what went wrong and what is allowed, for a person' }),
  field: Type.Optional(Type.String({ description: 'the request field at fault' }))
});
export type ErrorBody = Static<typeof ErrorBody>;

/** Pushed to the browser on `GET {base}/api/events` (Server-Sent Events, event name = `type`). */
export type ServerEvent =
  | { type: 'session'; session: Session }
  | { type: 'session-removed'; id: string }
  /** A ready kernel session's node, sampled by its agent while its owner's browser listens. */
  | { type: 'usage'; id: string; usage: NodeUsage }
  | { type: 'sites'; sites: Site[] };

/**
 * Validates `value` against `schema` and returns the first problem as an ErrorBody naming the
 * field, or null when it is valid. Used by the server for requests and by the launch form.
 */
export function firstProblem(schema: TSchema, value: unknown): ErrorBody | null {
  for (const error of Value.Errors(schema, value)) {
    const field = error.path.replace(/^\//, '').replace(/\//g, '.') || undefined;
    const extra =
      error.schema && typeof error.schema === 'object' && 'description' in error.schema
        ? ` (${String((error.schema as { description?: string }).description)})`
        : '';
    return {
      error: 'invalid_field',
      field,
      message: field
        ? `${field}: ${error.message}${extra}`
        : `request body: ${error.message}${extra}`
    };
  }
  return null;
}

/** `3661` → `1:01:01`; the walltime format users know from Slurm. */
export function formatWalltime(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const mm = String(m).padStart(2, '0');
  const ss = String(sec).padStart(2, '0');
  return `${h}:${mm}:${ss}`;
}

/** Parses `H:MM:SS`, `MM:SS`, `D-HH:MM:SS` (Slurm) or plain minutes into seconds; NaN if it is none of these. */
export function parseWalltime(text: string): number {
  const t = text.trim();
  const m = /^(?:(\d+)-)?(\d+)(?::(\d{1,2}))?(?::(\d{1,2}))?$/.exec(t);
  if (!m) return NaN;
  const [, d, a, b, c] = m;
  const days = d ? Number(d) : 0;
  let h = 0,
    min = 0,
    s = 0;
  if (c !== undefined) {
    [h, min, s] = [Number(a), Number(b), Number(c)];
  } else if (b !== undefined) {
    // Slurm: `D-HH:MM` is days-hours:minutes, `MM:SS` is minutes:seconds
    if (d) [h, min] = [Number(a), Number(b)];
    else [min, s] = [Number(a), Number(b)];
  } else if (d) {
    h = Number(a);
  } else {
    min = Number(a);
  }
  return ((days * 24 + h) * 60 + min) * 60 + s;
}

export * from './session-id.js';
export * from './agent-env.js';
export * from './ports.js';
export * from './usage.js';
export * from './files-write.js';
import type { NodeUsage } from './usage.js';
