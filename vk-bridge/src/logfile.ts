/**
 * Streams a log file the way `kubectl logs` does: the last N lines, then (with follow) whatever
 * is appended until the producer is done. Used by the local and Slurm executors.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

export interface FileLogOptions {
  tail?: number;
  follow?: boolean;
  signal?: AbortSignal;
  /** true once nothing more will be written: follow then ends after the last bytes */
  isDone: () => boolean;
  pollMs?: number;
}

/** Offset where the last `lines` lines of the file start. */
export async function tailOffset(fh: FileHandle, size: number, lines: number): Promise<number> {
  if (lines <= 0) return size;
  const chunk = Buffer.alloc(64 * 1024);
  let end = size;
  let count = 0;
  let skipTrailing = true;
  while (end > 0) {
    const start = Math.max(0, end - chunk.length);
    const { bytesRead } = await fh.read(chunk, 0, end - start, start);
    for (let i = bytesRead - 1; i >= 0; i--) {
      if (chunk[i] !== 0x0a) {
        skipTrailing = false;
        continue;
      }
      // a newline ending the file does not start another line
      if (skipTrailing && start + i === size - 1) continue;
      skipTrailing = false;
      if (++count === lines) return start + i + 1;
    }
    end = start;
  }
  return 0;
}

async function openWhenThere(path: string, opts: FileLogOptions): Promise<FileHandle | null> {
  for (;;) {
    const done = opts.isDone();
    try {
      return await open(path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (!opts.follow || done || opts.signal?.aborted) return null;
    await sleep(opts.pollMs ?? 200, undefined, { signal: opts.signal }).catch(() => undefined);
  }
}

export function fileLogStream(path: string, opts: FileLogOptions): Readable {
  async function* lines(): AsyncGenerator<Buffer> {
    const fh = await openWhenThere(path, opts);
    if (!fh) return;
    try {
      let pos = 0;
      if (opts.tail !== undefined) pos = await tailOffset(fh, (await fh.stat()).size, opts.tail);
      const buf = Buffer.alloc(64 * 1024);
      for (;;) {
        if (opts.signal?.aborted) return;
        const done = opts.isDone();
        const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
        if (bytesRead > 0) {
          pos += bytesRead;
          yield Buffer.from(buf.subarray(0, bytesRead));
          continue;
        }
        if (!opts.follow || done) return;
        await sleep(opts.pollMs ?? 200, undefined, { signal: opts.signal }).catch(() => undefined);
      }
    } finally {
      await fh.close();
    }
  }
  return Readable.from(lines(), { objectMode: false });
}
