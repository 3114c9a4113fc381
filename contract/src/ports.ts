/**
 * Extra ports a kernel session declares for web apps in its job (TensorBoard, a Dask dashboard):
 * each is served to the session's owner at `{session url}ports/{port}/`, and the agent forwards
 * only these to 127.0.0.1:<port> in the job. The path is not stripped: the app is told its prefix
 * (`INTERLINK_PORT_PREFIX_<port>`) and serves under it, as TensorBoard's --path_prefix and Dask's
 * --dashboard-prefix expect. Pure and browser-safe.
 */

export const MIN_PORT = 1024;
export const MAX_PORT = 65535;
export const MAX_PORTS = 8;

/** `{session url}ports/{port}/`: where the browser opens the app (the session URL ends in `/`). */
export function portUrl(sessionUrl: string, port: number): string {
  return `${sessionUrl}ports/${port}/`;
}

/** The prefix the app serves under, without the trailing `/` (how TensorBoard and Dask take it). */
export function portPrefix(sessionUrl: string, port: number): string {
  return portUrl(sessionUrl, port).slice(0, -1);
}

/** The environment variable holding one port's prefix, e.g. `INTERLINK_PORT_PREFIX_6006`. */
export function portPrefixVariable(port: number): string {
  return `INTERLINK_PORT_PREFIX_${port}`;
}

/**
 * The port a path under a session's URL asks for: `ports/6006` or `ports/6006/…` after the
 * session URL. Undefined when the path is not a ports path; NaN when the port is not a number.
 */
export function portOfPath(sessionUrl: string, path: string): number | undefined {
  const pathname = path.split('?')[0];
  const root = `${sessionUrl}ports/`;
  if (!pathname.startsWith(root)) return pathname === `${sessionUrl}ports` ? NaN : undefined;
  const m = /^([^/]*)(\/|$)/.exec(pathname.slice(root.length))!;
  return /^[0-9]{1,5}$/.test(m[1]) ? Number(m[1]) : NaN;
}

/** What is wrong with a `ports` value as given in a launch request, or undefined when it is fine. */
export function portsProblem(ports: unknown): string | undefined {
  if (ports === undefined) return undefined;
  if (!Array.isArray(ports)) return `a list of port numbers, e.g. [6006, 8787]`;
  if (ports.length > MAX_PORTS) return `at most ${MAX_PORTS} ports; ${ports.length} given`;
  const seen = new Set<number>();
  for (const p of ports) {
    if (typeof p !== 'number' || !Number.isInteger(p) || p < MIN_PORT || p > MAX_PORT) {
      return `whole numbers from ${MIN_PORT} to ${MAX_PORT}; ${JSON.stringify(p)} is not one`;
    }
    if (seen.has(p)) return `${p} is listed twice`;
    seen.add(p);
  }
  return undefined;
}
