/**
 * A proxy server on the embedded local site (real agents, Debian's jupyter_server, ipykernel) for
 * two token users, alice and bob, its sessions starting in a scratch folder: what most of the
 * server's tests stand on. Options go to startProxyServer as they are.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultLocalSite } from '@jupyterlab-interlink/vk-bridge';
import {
  TokenAuthenticator,
  startProxyServer,
  type RunningProxyServer,
  type StartOptions
} from '../index.js';
import { createLogger } from '../logging.js';

export const TOKENS = { alice: 'alice-token-0123456789', bob: 'bob-token-0123456789' } as const;
export type TestUser = keyof typeof TOKENS;

export interface LocalProxy {
  server: RunningProxyServer;
  /** `{url}/interlink/api` */
  api: string;
  /** Where the local site's sessions start (JupyterLab's root, standalone). */
  workingDir: string;
  /** `fetch` of an API path as the user (`/sessions`, `/events`…), JSON by default. */
  request(user: TestUser, path: string, init?: RequestInit): Promise<Response>;
  /** The user's credentials, for requests outside the API. */
  headers(user: TestUser): Record<string, string>;
  close(): Promise<void>;
}

export async function startLocalProxy(options: Partial<StartOptions> = {}): Promise<LocalProxy> {
  const workingDir = mkdtempSync(join(tmpdir(), 'interlink-local-proxy-'));
  const server = await startProxyServer({
    sites: [defaultLocalSite()],
    auth: new TokenAuthenticator(
      new Map(Object.entries(TOKENS).map(([user, token]) => [token, user]))
    ),
    logger: createLogger('warn'),
    workingDir,
    ...options
  });
  const api = `${server.url}/interlink/api`;
  const headers = (user: TestUser) => ({
    authorization: `token ${TOKENS[user]}`,
    'content-type': 'application/json'
  });
  return {
    server,
    api,
    workingDir,
    headers,
    request: (user, path, init = {}) =>
      fetch(`${api}${path}`, {
        ...init,
        headers: { ...headers(user), ...(init.headers as Record<string, string>) }
      }),
    close: async () => {
      await server.close();
      rmSync(workingDir, { recursive: true, force: true });
    }
  };
}
