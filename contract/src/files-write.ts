/**
 * A file copy's raw writes: `PUT {prefix}files-write/<path>?offset=N` with the bytes as the body,
 * written at byte N of the file. Offset 0 creates or empties the file; any other offset must be
 * the file's size, or the answer is 409 with that size: a write is never applied twice or out of
 * order, and a copy cut mid-way goes on from what landed. No base64, no JSON around the bytes.
 * Served by a session's agent at `{session url}files-write/…` (through the proxy server, to the
 * owner only) and for JupyterLab's own files by the server extension at
 * `{lab base url}interlink/files-write/…`. Pure and browser-safe.
 */
import type { ErrorBody } from './index.js';

export const FILES_WRITE = 'files-write';

/** The answer to a write that landed, and to a refused one (409 wrong offset: the file's size). */
export interface FilesWriteAnswer {
  size: number;
}

export type OffsetConflict = ErrorBody & FilesWriteAnswer;

/** `{prefix}files-write/<path>?offset=N` for an API path (`a/b.bin`), each part URL-encoded. */
export function filesWriteUrl(prefix: string, path: string, offset: number): string {
  const parts = path.split('/').filter(Boolean).map(encodeURIComponent).join('/');
  return `${prefix}${FILES_WRITE}/${parts}?offset=${offset}`;
}

/** The file part (still URL-encoded) of a path under a session's URL, or undefined. */
export function filesWriteOfPath(sessionUrl: string, path: string): string | undefined {
  const pathname = path.split('?')[0];
  const root = `${sessionUrl}${FILES_WRITE}/`;
  return pathname.startsWith(root) ? pathname.slice(root.length) : undefined;
}

/** The `offset` query value as a byte offset, or what is wrong with it (naming the field). */
export function parseOffset(text: string | null): number | string {
  if (text === null) return 'offset: required, the byte the body starts at (0 creates the file)';
  if (!/^(0|[1-9][0-9]{0,15})$/.test(text) || !Number.isSafeInteger(Number(text))) {
    return `offset: a whole number of bytes, 0 or more; "${text}" is not one`;
  }
  return Number(text);
}
