/**
 * Which Host a request may name, and which Origin may drive it: the defence against DNS
 * rebinding, modelled on jupyter_server's `allow_remote_access` and `local_hostnames`. A page on
 * an attacker's name that re-resolves to this server still says its own name in Host; answering
 * only to the names this server is configured for leaves it nothing to talk to.
 */
import { isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';

export interface HostOptions {
  /** Answer to any Host (a deployment whose front proxy checks names itself). Default false. */
  allowRemoteAccess?: boolean;
  /** Public names (or URLs, whose host is taken) browsers and agents use to reach this server. */
  hostnames?: string[];
  /** Names that count as this machine; default `localhost`. Loopback IPs always do. */
  localHostnames?: string[];
}

export interface HostPolicy {
  /** null when the request's Host is one this server answers to, else the refusal to send. */
  refusal(req: IncomingMessage): { error: string; host: string; message: string } | null;
  /** Origin (or Referer) absent, or of this server's scheme and host, or explicitly allowed. */
  sameOrigin(req: IncomingMessage, allowedOrigins?: string[]): boolean;
}

/** `host[:port]` or `[v6]:port` without the port, lower case, brackets removed. */
export function hostnameOf(hostHeader: string): string {
  const h = hostHeader.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') > 0 ? h.indexOf(']') : undefined);
  const colon = h.lastIndexOf(':');
  // A bare IPv6 address (not valid in Host, but never cut it at a colon).
  if (colon > 0 && h.indexOf(':') === colon) return h.slice(0, colon);
  return h;
}

function isLoopback(hostname: string): boolean {
  if (isIP(hostname) === 4) return hostname.startsWith('127.');
  if (isIP(hostname) === 6) return hostname === '::1' || hostname === '0:0:0:0:0:0:0:1';
  return false;
}

function nameOf(entry: string): string {
  const trimmed = entry.trim();
  if (trimmed.includes('://')) {
    try {
      return new URL(trimmed).hostname.replace(/^\[|\]$/g, '').toLowerCase();
    } catch {
      throw new Error(`host name "${trimmed}": not a valid URL or host name`);
    }
  }
  return hostnameOf(trimmed);
}

export function createHostPolicy(options: HostOptions = {}): HostPolicy {
  const local = new Set((options.localHostnames ?? ['localhost']).map(nameOf));
  const configured = new Set((options.hostnames ?? []).filter(h => h.trim()).map(nameOf));
  const allowed = (hostname: string): boolean =>
    options.allowRemoteAccess === true ||
    isLoopback(hostname) ||
    local.has(hostname) ||
    configured.has(hostname);

  return {
    refusal(req) {
      const host = req.headers.host ?? '';
      if (host && allowed(hostnameOf(host))) return null;
      return {
        error: 'host_not_allowed',
        host,
        message:
          `this server does not answer to the host "${host}": it answers to loopback names` +
          (configured.size > 0 ? ` and ${[...configured].join(', ')}` : '') +
          '; a site adds its public host names with INTERLINK_HOSTNAMES (comma-separated)'
      };
    },
    sameOrigin(req, allowedOrigins = []) {
      const origin = req.headers.origin ?? refererOrigin(req.headers.referer);
      if (!origin) return true;
      if (allowedOrigins.includes(origin)) return true;
      let parsed: URL;
      try {
        parsed = new URL(origin);
      } catch {
        return false; // `null` (a sandboxed page, a file) and anything unparsable
      }
      const host = req.headers.host;
      return (
        host !== undefined &&
        parsed.protocol === `${schemeOf(req)}:` &&
        parsed.host === host.toLowerCase() &&
        allowed(hostnameOf(parsed.host))
      );
    }
  };
}

/**
 * The scheme the browser used: a TLS-terminating proxy in front (JupyterHub's, nginx) says so in
 * X-Forwarded-Proto, a header a page cannot set on a cross-origin request without a preflight
 * this server never answers.
 */
function schemeOf(req: IncomingMessage): string {
  const forwarded = req.headers['x-forwarded-proto'];
  const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0].trim();
  // http-proxy (configurable-http-proxy, hence JupyterHub) says ws/wss for upgrades.
  if (first)
    return (
      ({ ws: 'http', wss: 'https' } as Record<string, string>)[first.toLowerCase()] ??
      first.toLowerCase()
    );
  return (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
}

function refererOrigin(referer: string | undefined): string | undefined {
  if (!referer) return undefined;
  try {
    return new URL(referer).origin;
  } catch {
    return 'invalid';
  }
}

/**
 * From the environment: INTERLINK_HOSTNAMES (comma-separated names or URLs),
 * INTERLINK_ALLOW_REMOTE_ACCESS=1, and under JupyterHub the hub's public URL when the hub
 * passes it (JUPYTERHUB_PUBLIC_URL, JUPYTERHUB_PUBLIC_HUB_URL).
 */
export function hostOptionsFromEnvironment(env: NodeJS.ProcessEnv = process.env): HostOptions {
  const names = (env.INTERLINK_HOSTNAMES ?? '').split(',').filter(s => s.trim());
  for (const name of ['JUPYTERHUB_PUBLIC_URL', 'JUPYTERHUB_PUBLIC_HUB_URL']) {
    if (env[name]) names.push(env[name] as string);
  }
  const remote = (env.INTERLINK_ALLOW_REMOTE_ACCESS ?? '').toLowerCase();
  if (remote && !['1', 'true', 'yes', '0', 'false', 'no'].includes(remote)) {
    throw new Error('INTERLINK_ALLOW_REMOTE_ACCESS: use 1 (any Host) or 0 (configured names only)');
  }
  return { hostnames: names, allowRemoteAccess: ['1', 'true', 'yes'].includes(remote) };
}
