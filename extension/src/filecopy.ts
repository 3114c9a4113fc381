/**
 * Copying a file between two Jupyter servers' contents (JupyterLab's own and a session's remote
 * one), as JupyterLab's uploader writes a large file: chunk by chunk through the contents API
 * (`chunk` 1, 2, …, -1 for the last). The source is read by byte ranges of its `files/` URL, so
 * nothing holds the whole file. A chunk whose request fails (a tunnel cut, a restart) is not
 * guessed at: the destination's size says whether it landed, and the copy goes on from there.
 * Pure: the two ends are given.
 */

export interface CopySource {
  /** Bytes in the file. */
  size(): Promise<number>;
  /** Bytes [start, end) of it. */
  read(start: number, end: number): Promise<Uint8Array>;
}

export interface CopyTarget {
  /** Writes `data` as chunk `index` (1 creates the file, later ones append, -1 ends it). */
  write(data: Uint8Array, index: number): Promise<void>;
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
 * 4 MiB: through the tunnel a chunk costs about 30 ms whatever its size up to here, so 1 MiB
 * chunks (JupyterLab's uploader's) copy at a third of the speed; and one is still quick to resend.
 */
export const CHUNK_BYTES = 4 * 1024 * 1024;

export async function copyFile(
  source: CopySource,
  target: CopyTarget,
  options: CopyOptions = {}
): Promise<void> {
  const chunk = options.chunkBytes ?? CHUNK_BYTES;
  const attempts = options.attempts ?? 8;
  const sleep = options.sleep ?? ((ms: number) => new Promise(r => setTimeout(r, ms)));
  const total = await source.size();
  let offset = 0;
  let index = 1;
  options.onProgress?.(0, total);
  // An empty file is one (last) chunk too, so that it exists.
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
  while (offset < total || index === 1) {
    const end = Math.min(total, offset + chunk);
    const data = await next;
    if (end < total) next = ahead(end, Math.min(total, end + chunk));
    const last = end >= total;
    for (let attempt = 1; ;) {
      try {
        // The first and only chunk of a small file: 1, which also ends it.
        await target.write(data, last && index > 1 ? -1 : index);
        break;
      } catch (err) {
        // Did the chunk land before the answer was lost? Only the destination's size can say:
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
        // Chunk 1 makes the file anew: sent again whatever is there.
        if (index > 1 && now === end) break;
        if (index > 1 && now !== offset) {
          throw new Error(
            `the copy holds ${now ?? 'no'} bytes where ${offset} or ${end} were expected`
          );
        }
      }
    }
    offset = end;
    index += 1;
    options.onProgress?.(offset, total);
    if (total === 0) break;
  }
}
