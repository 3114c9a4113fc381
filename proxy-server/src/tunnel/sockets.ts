import type { Duplex } from 'node:stream';

/** Destroy a socket once what was written has been flushed (at once if it was not ended). */
export function closeAfterFlush(socket: Duplex): void {
  if (socket.destroyed) return;
  if (!socket.writableEnded || socket.writableFinished) socket.destroy();
  else socket.once('finish', () => socket.destroy());
}
