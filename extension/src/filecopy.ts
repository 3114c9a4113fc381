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
  /** Bytes the file holds now, or undefined when it does not exist. */
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

/** JupyterLab's uploader's chunk size: large enough for throughput, small enough to resend. */
export const CHUNK_BYTES = 1024 * 1024;

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
  while (offset < total || index === 1) {
    const end = Math.min(total, offset + chunk);
    const data = await source.read(offset, end);
    const last = end >= total;
    let landed = false;
    for (let attempt = 1; !landed; attempt++) {
      try {
        // The first and only chunk of a small file: 1, which also ends it.
        await target.write(data, last && index > 1 ? -1 : index);
        landed = true;
      } catch (err) {
        if (attempt >= attempts) throw err;
        await sleep((options.retryDelayMs ?? 500) * attempt);
        // Did the chunk land before the answer was lost? The file's size says.
        const now = await target.size().catch(() => undefined);
        if (now === end && index > 1) landed = true;
        else if (now !== undefined && now !== offset && index > 1) {
          throw new Error(`the copy holds ${now} bytes where ${offset} or ${end} were expected`);
        }
        // Otherwise it is sent again: an append of nothing lost, or the file made anew (chunk 1).
      }
    }
    offset = end;
    index += 1;
    options.onProgress?.(offset, total);
    if (total === 0) break;
  }
}
