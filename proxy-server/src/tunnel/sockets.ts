import type { Duplex, Readable, Writable } from 'node:stream';

/** Destroy a socket once what was written has been flushed (at once if it was not ended). */
export function closeAfterFlush(socket: Duplex): void {
  if (socket.destroyed) return;
  if (!socket.writableEnded || socket.writableFinished) socket.destroy();
  else socket.once('finish', () => socket.destroy());
}

/** How much a relay lets the destination hold before it pauses the source. */
export const RELAY_BUFFER_BYTES = 256 * 1024;

/**
 * Like `src.pipe(dst)`, with two differences that matter for throughput. Chunks that arrive in
 * one turn of the event loop go out in one write: HTTP/2 hands data over in 16 KiB frames, each
 * in its own callback (so a nextTick would flush every frame alone), and a syscall per frame
 * would dominate the CPU time. And the source is paused only when the destination holds more than
 * RELAY_BUFFER_BYTES, not at its 16 KiB high-water mark, which would stop and restart the
 * stream for every frame. Memory stays bounded all the same.
 */
export function relay(src: Readable, dst: Writable): void {
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    if (dst.writableCorked > 0) dst.uncork();
  };
  src.on('data', (chunk: Buffer) => {
    if (dst.destroyed || dst.writableEnded) return;
    if (!scheduled) {
      scheduled = true;
      dst.cork();
      setImmediate(flush);
    }
    dst.write(chunk);
    if (dst.writableLength >= RELAY_BUFFER_BYTES) src.pause();
  });
  // 'drain' follows any write that went over the high-water mark, once the buffer is empty.
  dst.on('drain', () => src.resume());
  src.once('end', () => {
    if (!dst.destroyed && !dst.writableEnded) dst.end();
  });
}
