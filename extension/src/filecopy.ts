/**
 * Copying a file between two Jupyter servers' files (JupyterLab's own and a session's remote
 * ones): read by byte ranges of the source's `files/` URL, written as raw bytes at their offset
 * (contract/src/files-write.ts), one chunk at a time, so nothing holds the whole file. A write
 * whose request fails (a tunnel cut, a restart) is not guessed at: the destination's size says
 * how much of it landed, and the copy goes on from there. Pure: the two ends are given.
 */

export interface CopySource {
  /** Bytes in the file. */
  size(): Promise<number>;
  /** Bytes [start, end) of it. */
  read(start: number, end: number): Promise<Uint8Array>;
}

export interface CopyTarget {
  /** Writes `data` at byte `offset`: 0 creates or empties the file, else it must be its size. */
  write(data: Uint8Array, offset: number): Promise<void>;
  /** Bytes the file holds now, undefined when it does not exist; throws when it cannot tell. */
  size(): Promise<number | undefined>;
}

export interface CopyOptions {
  chunkBytes?: number;
  /** Attempts at one chunk before the copy fails (a tunnel that stays down). */
  attempts?: number;
  /** Waits between attempts, ms; grows with each. */
  retryDelayMs?: number;
  onProgress?: (copied: number, total: number) => void;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * 16 MiB: a write costs a round trip through the tunnel whatever its size, so larger chunks copy
 * faster (bench/drive-copy.mjs: 16 MiB a little ahead of 8, 4 behind), and a write cut in the
 * middle is finished from where it stopped, not sent again.
 */
export const CHUNK_BYTES = 16 * 1024 * 1024;

export async function copyFile(
  source: CopySource,
  target: CopyTarget,
  options: CopyOptions = {}
): Promise<void> {
  const chunk = options.chunkBytes ?? CHUNK_BYTES;
  const attempts = options.attempts ?? 8;
  const sleep = options.sleep ?? ((ms: number) => new Promise(r => setTimeout(r, ms)));
  const total = await source.size();
  options.onProgress?.(0, total);
  // Reads are retried like writes: a tunnel cut reaches them as well.
  const read = async (start: number, end: number): Promise<Uint8Array> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await source.read(start, end);
      } catch (err) {
        if (attempt >= attempts) throw err;
        await sleep((options.retryDelayMs ?? 500) * attempt);
      }
    }
  };
  // The next chunk is read while this one is written (a failure waits to be awaited).
  const ahead = (start: number, end: number) => {
    const promise = read(start, end);
    promise.catch(() => undefined);
    return promise;
  };
  let next = ahead(0, Math.min(total, chunk));
  // An empty file is one (empty) write too, so that it exists.
  for (let offset = 0; offset < total || offset === 0;) {
    const end = Math.min(total, offset + chunk);
    const data = await next;
    if (end < total) next = ahead(end, Math.min(total, end + chunk));
    // Where this chunk's next write starts: a write cut mid-way leaves part of it behind.
    let at = offset;
    for (let attempt = 1; ;) {
      try {
        await target.write(data.subarray(at - offset), at);
        break;
      } catch (err) {
        // How much landed before the answer was lost? Only the destination's size can say:
        // ask until it answers (while the far side is away, nothing is sent blindly).
        let now: number | undefined;
        for (;;) {
          if (attempt++ >= attempts) throw err;
          await sleep((options.retryDelayMs ?? 500) * attempt);
          try {
            now = await target.size();
            break;
          } catch {
            // still away
          }
        }
        // The first write makes the file anew: sent again whatever is there.
        if (offset === 0) continue;
        if (now === undefined || now < offset || now > end) {
          throw new Error(
            `the copy holds ${now ?? 'no'} bytes where ${offset} to ${end} were expected`
          );
        }
        at = now;
        if (at === end) break;
      }
    }
    options.onProgress?.(end, total);
    if (total === 0) break;
    offset = end;
  }
}
