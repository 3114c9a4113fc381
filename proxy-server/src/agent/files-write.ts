/**
 * The agent's write route, FILES_WRITE_PATH: the request body written at byte `offset` of a file
 * under the remote Jupyter server's root, as the job's account (contract/src/files-write.ts has
 * the rules). Only the proxy server reaches it, after checking that the caller owns the session.
 * Confined to the root: no `..` or `.` part, no absolute path, the parent folder's real path
 * inside the root's real path, and the file itself not a symbolic link (O_NOFOLLOW).
 */
import { constants } from 'node:fs';
import { open, realpath, type FileHandle } from 'node:fs/promises';
import type http2 from 'node:http2';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import {
  parseOffset,
  type ErrorBody,
  type FilesWriteAnswer,
  type OffsetConflict
} from '@jupyterlab-interlink/contract';
import { FILES_WRITE_PATH, STREAM_WINDOW_BYTES } from '../tunnel/protocol.js';

const { O_WRONLY, O_CREAT, O_TRUNC, O_NOFOLLOW, O_NONBLOCK } = constants;

class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly body: ErrorBody | OffsetConflict
  ) {
    super(body.message);
  }
}

const invalid = (field: string, message: string) =>
  new Refusal(400, { error: 'invalid_field', field, message: `${field}: ${message}` });

/** The path's parts below the root, decoded; refused when one could leave the root. */
function pathParts(encoded: string): string[] {
  if (!encoded) throw invalid('path', 'a file path below the root is required');
  const parts = encoded.split('/').map(part => {
    try {
      return decodeURIComponent(part);
    } catch {
      throw invalid('path', `"${part}" is not URL-encoded correctly`);
    }
  });
  if (parts[0] === '')
    throw invalid('path', 'an absolute path is not allowed; give it below the root');
  for (const part of parts) {
    if (part === '' || part === '.' || part === '..') {
      throw invalid('path', `"${part}" is not allowed as a part of the path`);
    }
    if (/[/\\\0]/.test(part)) throw invalid('path', `"${part}" holds a slash or a NUL byte`);
  }
  return parts;
}

function opened(err: unknown, shown: string): Refusal {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') {
    return new Refusal(404, {
      error: 'not_found',
      message: `no file ${shown}: a copy starts at offset 0, which creates it`
    });
  }
  if (code === 'ELOOP') {
    return new Refusal(403, { error: 'forbidden', message: `${shown} is a symbolic link` });
  }
  if (code === 'EISDIR') return invalid('path', `${shown} is a folder`);
  if (code === 'EACCES' || code === 'EPERM') {
    return new Refusal(403, { error: 'forbidden', message: `${shown}: permission denied` });
  }
  throw err;
}

export class FileWriter {
  /** One write at a time per file: one cut off by a tunnel drop may still be flushing. */
  private readonly busy = new Map<string, Promise<unknown>>();

  /** `root`: the remote Jupyter server's root; undefined answers every write 404. */
  constructor(private readonly root: string | undefined) {}

  handles(headers: http2.IncomingHttpHeaders): boolean {
    return String(headers[':path'] ?? '').startsWith(FILES_WRITE_PATH);
  }

  async handle(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): Promise<void> {
    stream.on('error', () => {});
    try {
      const size = await this.write(stream, headers);
      reply(stream, 200, { size } satisfies FilesWriteAnswer);
    } catch (err) {
      if (err instanceof Refusal) reply(stream, err.status, err.body);
      else if (!stream.aborted) {
        reply(stream, 500, { error: 'write_failed', message: (err as Error).message });
      }
    }
  }

  private async write(
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders
  ): Promise<number> {
    if (headers[':method'] !== 'PUT') {
      throw new Refusal(405, { error: 'method_not_allowed', message: 'files are written by PUT' });
    }
    if (!this.root) {
      throw new Refusal(404, { error: 'not_found', message: 'this agent serves no files' });
    }
    // Taken apart by hand: a URL parser would resolve `..` before the parts are checked.
    const [pathname, query = ''] = String(headers[':path']).split(/\?(.*)/s);
    const parts = pathParts(pathname.slice(FILES_WRITE_PATH.length));
    const offset = parseOffset(new URLSearchParams(query).get('offset'));
    if (typeof offset === 'string') throw new Refusal(400, invalidOffset(offset));
    const shown = parts.join('/');
    const root = await realpath(this.root);
    let parent: string;
    try {
      parent = await realpath(path.join(root, ...parts.slice(0, -1)));
    } catch {
      throw new Refusal(404, { error: 'not_found', message: `no folder for ${shown}` });
    }
    if (parent !== root && !parent.startsWith(root + path.sep)) {
      throw new Refusal(403, { error: 'outside_root', message: `${shown} leads outside the root` });
    }
    const file = path.join(parent, parts[parts.length - 1]);
    const before = this.busy.get(file);
    const done = (async () => {
      await before?.catch(() => undefined);
      return this.writeAt(file, shown, offset, stream);
    })();
    this.busy.set(file, done);
    try {
      return await done;
    } finally {
      if (this.busy.get(file) === done) this.busy.delete(file);
    }
  }

  private async writeAt(
    file: string,
    shown: string,
    offset: number,
    body: http2.ServerHttp2Stream
  ): Promise<number> {
    // Non-blocking, so a FIFO put in the file's place cannot hang the open; refused just below.
    const flags = O_WRONLY | O_NOFOLLOW | O_NONBLOCK | (offset === 0 ? O_CREAT | O_TRUNC : 0);
    let handle: FileHandle;
    try {
      handle = await open(file, flags, 0o666);
    } catch (err) {
      throw opened(err, shown);
    }
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) throw invalid('path', `${shown} is not a regular file`);
      if (stat.size !== offset) {
        throw new Refusal(409, {
          error: 'offset_mismatch',
          field: 'offset',
          message: `offset: ${shown} holds ${stat.size} bytes, so a write goes at ${stat.size}, not ${offset}`,
          size: stat.size
        });
      }
    } catch (err) {
      await handle.close();
      throw err;
    }
    // The stream closes the handle however it ends (a handle closed under it would wait for it).
    // It takes up to a stream window before pausing the body: at the default 16 KiB, every
    // HTTP/2 frame paused and resumed the sender, and writes ran at half the download's rate.
    const out = handle.createWriteStream({ start: offset, highWaterMark: STREAM_WINDOW_BYTES });
    await pipeline(body, out);
    return offset + out.bytesWritten;
  }
}

function invalidOffset(message: string): ErrorBody {
  return { error: 'invalid_field', field: 'offset', message };
}

function reply(stream: http2.ServerHttp2Stream, status: number, body: unknown): void {
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  const text = JSON.stringify(body);
  stream.respond({
    ':status': status,
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(text)
  });
  stream.end(text);
}
