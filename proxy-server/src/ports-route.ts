/**
 * {base}/sessions/{id}/ports/{port}/…: a web app in the session's job (TensorBoard, a Dask
 * dashboard), HTTP and WebSocket, through the same tunnel as the Jupyter server. The caller's
 * identity and ownership are checked before this, like every session route; this decides only
 * whether the port is one the launch declared. The path reaches the app unchanged (see
 * contract/src/ports.ts), and the agent checks the port again.
 */
import { portOfPath, type ErrorBody, type Session } from '@jupyterlab-interlink/contract';

export interface PortRefusal {
  status: number;
  body: ErrorBody;
}

/** Undefined when `path` is not a ports path or asks for a declared port; else the refusal. */
export function portRefusal(session: Session, path: string): PortRefusal | undefined {
  const port = portOfPath(session.url, path);
  if (port === undefined) return undefined;
  const declared = session.ports ?? [];
  if (declared.includes(port)) return undefined;
  const named = Number.isNaN(port) ? 'that port' : `port ${port}`;
  return {
    status: 404,
    body: {
      error: 'port_not_declared',
      message: `${named} is not declared by session ${session.id}; declared: ${declared.length ? declared.join(', ') : 'none'} (launch with "ports" to add one)`
    }
  };
}

/** `{url}ports/6006` without its slash: where the browser should go so relative links resolve. */
export function portRedirect(session: Session, path: string): string | undefined {
  const port = portOfPath(session.url, path);
  if (port === undefined || Number.isNaN(port)) return undefined;
  return path.split('?')[0] === `${session.url}ports/${port}`
    ? `${session.url}ports/${port}/`
    : undefined;
}
