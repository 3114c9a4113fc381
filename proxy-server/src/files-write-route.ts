/**
 * {base}/sessions/{id}/files-write/<path>?offset=N: a file copy's raw write into the session's
 * files (contract/src/files-write.ts). The caller's identity and ownership are checked before
 * this, like every session route; this only says where in the tunnel the request goes: the
 * agent's own write route (FILES_WRITE_PATH), which is outside every session's base URL, so no
 * other path through the proxy reaches it.
 */
import type { IncomingMessage } from 'node:http';
import { filesWriteOfPath, type ErrorBody, type Session } from '@jupyterlab-interlink/contract';
import { FILES_WRITE_PATH } from './tunnel/protocol.js';

/** Undefined when `path` is no write path; else the agent's path for it, or a 405 refusal. */
export function filesWriteRoute(
  session: Session,
  path: string,
  req: IncomingMessage
): { agentPath: string } | { refusal: ErrorBody } | undefined {
  const file = filesWriteOfPath(session.url, path);
  if (file === undefined) return undefined;
  if (req.method !== 'PUT') {
    return {
      refusal: {
        error: 'method_not_allowed',
        message: `files are written by PUT, not ${req.method}`
      }
    };
  }
  const query = req.url?.includes('?') ? req.url.slice(req.url.indexOf('?')) : '';
  return { agentPath: `${FILES_WRITE_PATH}${file}${query}` };
}
