/**
 * The environment a session's job gives the tunnel agent. The proxy server writes it (the bridge
 * passes it into the pod unread), the agent reads it: these names are the one list both use.
 */
import type { SessionType } from './index.js';
import { portPrefix, portPrefixVariable } from './ports.js';

export const AGENT_ENV = {
  sessionId: 'INTERLINK_SESSION_ID',
  /** `kernel` (a Jupyter server behind the tunnel) or `job` (run to completion, no tunnel) */
  sessionType: 'INTERLINK_SESSION_TYPE',
  /** ws(s)://…{basePath}/tunnel */
  tunnelUrl: 'INTERLINK_TUNNEL_URL',
  /** the base_url the remote Jupyter server serves under */
  baseUrl: 'INTERLINK_BASE_URL',
  /** the path of the file holding the session's secret (the bridge mounts it) */
  secretFile: 'INTERLINK_SECRET_FILE',
  /** the secret itself, for runs without a file (tests, by hand) */
  secret: 'INTERLINK_SECRET',
  site: 'INTERLINK_SITE',
  profile: 'INTERLINK_PROFILE',
  walltime: 'INTERLINK_WALLTIME_SECONDS',
  jobPath: 'INTERLINK_JOB_PATH',
  /** a JSON array of strings */
  jobCommand: 'INTERLINK_JOB_COMMAND',
  user: 'JUPYTERHUB_USER',
  /** comma-separated */
  groups: 'INTERLINK_USER_GROUPS',
  /** comma-separated: the ports the launch declared, the only ones the agent forwards to */
  ports: 'INTERLINK_PORTS',
  // What a site's administrator may set for the agent, beside what a launch sets:
  /** a JSON array: the Jupyter server's argv (default: jupyter server) */
  jupyterCommand: 'INTERLINK_JUPYTER_COMMAND',
  jupyterTimeoutSeconds: 'INTERLINK_JUPYTER_TIMEOUT_SECONDS',
  notebookDir: 'INTERLINK_NOTEBOOK_DIR',
  python: 'INTERLINK_PYTHON',
  reconnectInitialMs: 'INTERLINK_RECONNECT_INITIAL_MS',
  reconnectMaxMs: 'INTERLINK_RECONNECT_MAX_MS',
  /** `websocket` forces the WebSocket transport */
  tunnelTransport: 'INTERLINK_TUNNEL_TRANSPORT'
} as const;

/** What one launch tells its agent. */
export interface AgentLaunch {
  sessionId: string;
  type: SessionType;
  tunnelUrl: string;
  baseUrl: string;
  site: string;
  profile: string;
  /** seconds */
  walltime: number;
  user: string;
  groups: string[];
  /** job sessions: what to run */
  path?: string;
  command?: string[];
  /** kernel sessions: declared ports of web apps in the job */
  ports?: number[];
}

/**
 * The agent's environment for one launch (without the secret, which travels as a file), on top
 * of `extra` (the site's HTTPS_PROXY and the like): ours last, so nothing extra can pass for
 * what identifies the session.
 */
export function agentEnvironment(
  launch: AgentLaunch,
  extra: Record<string, string> = {}
): Record<string, string> {
  const env: Record<string, string> = {
    ...extra,
    [AGENT_ENV.sessionId]: launch.sessionId,
    [AGENT_ENV.sessionType]: launch.type,
    [AGENT_ENV.tunnelUrl]: launch.tunnelUrl,
    [AGENT_ENV.baseUrl]: launch.baseUrl,
    [AGENT_ENV.site]: launch.site,
    [AGENT_ENV.profile]: launch.profile,
    [AGENT_ENV.walltime]: String(launch.walltime),
    [AGENT_ENV.user]: launch.user,
    [AGENT_ENV.groups]: launch.groups.join(',')
  };
  if (launch.type === 'kernel' && launch.ports?.length) {
    env[AGENT_ENV.ports] = launch.ports.join(',');
    // For the app: where it is served, e.g. tensorboard --path_prefix "$INTERLINK_PORT_PREFIX_6006".
    for (const port of launch.ports) {
      env[portPrefixVariable(port)] = portPrefix(launch.baseUrl, port);
    }
  }
  if (launch.type === 'job') {
    if (launch.path) env[AGENT_ENV.jobPath] = launch.path;
    if (launch.command) env[AGENT_ENV.jobCommand] = JSON.stringify(launch.command);
  }
  return env;
}

/** The declared ports in the agent's environment; an empty list when there are none. */
export function readPorts(env: Record<string, string | undefined>): number[] {
  const text = env[AGENT_ENV.ports]?.trim();
  if (!text) return [];
  const ports = text.split(',').map(p => Number(p.trim()));
  if (!ports.every(p => Number.isInteger(p) && p > 0 && p < 65536)) {
    throw new Error(`${AGENT_ENV.ports} must be comma-separated port numbers`);
  }
  return ports;
}

/** An argv the agent's environment carries as a JSON array of strings; undefined when unset. */
export function readArgv(
  env: Record<string, string | undefined>,
  name: string
): string[] | undefined {
  const text = env[name];
  if (!text) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every(a => typeof a === 'string')) {
    throw new Error(`${name} must be a JSON array of strings`);
  }
  return parsed as string[];
}
