/**
 * What names a session: its id (a DNS label, so it can be a pod name's suffix and a URL path
 * segment) and the path its remote Jupyter server answers under. The server, the bridge, the
 * tunnel and the agent all use these.
 */

/** The id without anchors, for routes that embed it; a DNS label of at most 40 characters. */
export const SESSION_ID_SOURCE = '[a-z0-9](?:[-a-z0-9]{0,38}[a-z0-9])?';
export const SESSION_ID = new RegExp(`^${SESSION_ID_SOURCE}$`);

export function isSessionId(id: string): boolean {
  return SESSION_ID.test(id);
}

/** The base path of the proxy server's routes when it runs standalone. */
export const DEFAULT_BASE_PATH = '/interlink';

/** Where a session's remote Jupyter server answers: `{basePath}/sessions/{id}/`, ending in `/`. */
export function sessionPath(basePath: string, id: string): string {
  return `${basePath.replace(/\/+$/, '')}/sessions/${id}/`;
}
