/**
 * Connections handed over by jupyter_server's front door (standalone only).
 *
 * Once jupyter_server has authenticated a WebSocket upgrade under `{base}`, it passes the
 * browser's socket itself to this process over the IPC channel it started us with (Node's
 * `NODE_CHANNEL_FD`, the channel `child_process.fork` uses; the socket travels as SCM_RIGHTS),
 * with the request head it rewrote. From then on the kernel's frames go browser → this process
 * with no Python in between: one hop less than splicing the bytes in jupyter_server.
 * (`jupyterlab_interlink/frontdoor.py` is the other end, and splices instead where it cannot hand
 * over, e.g. on TLS.)
 */
import type { Server } from 'node:http';
import { Socket } from 'node:net';

/** The message that comes with a handed-over socket. */
export interface HandedConnection {
  interlink: 'connection';
  /** The request head (and any bytes read after it), base64: what the socket's reader has taken. */
  head: string;
}

function isHandedConnection(message: unknown): message is HandedConnection {
  const m = message as Partial<HandedConnection> | null;
  return m?.interlink === 'connection' && typeof m.head === 'string';
}

/**
 * Serves sockets handed over on this process's IPC channel as connections of `server`.
 * Does nothing when the process has no channel (not started by jupyter_server).
 */
export function acceptHandedConnections(server: Server): void {
  if (!process.channel) return;
  process.on('message', (message: unknown, handle: unknown) => {
    if (!isHandedConnection(message) || !(handle instanceof Socket)) return;
    // Put back what jupyter_server read, then let the HTTP server parse it as if it had.
    handle.unshift(Buffer.from(message.head, 'base64'));
    handle.setNoDelay(true); // kernel frames are small and each one is awaited

    server.emit('connection', handle);
  });
  // The channel must not keep the service alive by itself.
  process.channel.unref();
}
