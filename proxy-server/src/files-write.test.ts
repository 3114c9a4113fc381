/**
 * A file copy's raw writes into a session's files: `PUT {base}/sessions/{id}/files-write/<path>`
 * through the proxy server, the tunnel and the session's real agent, which writes under its
 * Jupyter server's root (the local site's working folder). Only the owner writes; a write at the
 * wrong offset changes nothing; no path leaves the root.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Session } from '@jupyterlab-interlink/contract';
import { startLocalProxy, type LocalProxy, type TestUser } from './testing/local-proxy.js';
import { readEvents, waitForState } from './testing/events.js';
import { FileWriter } from './agent/files-write.js';

interface Answer {
  status: number;
  body: { size?: number; error?: string; field?: string; message?: string };
}

describe('raw writes into a session’s files', () => {
  let proxy: LocalProxy;
  let session: Session;
  let outside: string;

  /** A PUT on the path exactly as given (fetch would resolve `..` and `%2E%2E` first). */
  const put = (user: TestUser, rawPath: string, body: Buffer, method = 'PUT') =>
    new Promise<Answer>((resolve, reject) => {
      const req = http.request(
        `${proxy.server.url}${session.url}files-write/${rawPath}`,
        { method, headers: { ...proxy.headers(user), 'content-type': 'application/octet-stream' } },
        res => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
        }
      );
      req.on('error', reject);
      req.end(body);
    });
  const disk = (name: string) => readFileSync(join(proxy.workingDir, name));

  before(async () => {
    proxy = await startLocalProxy();
    outside = mkdtempSync(join(tmpdir(), 'interlink-outside-'));
    const events = readEvents(await proxy.request('alice', '/events'));
    const created = await proxy.request('alice', '/sessions', {
      method: 'POST',
      body: JSON.stringify({ site: 'local', profile: 'small', type: 'kernel' })
    });
    assert.equal(created.status, 201);
    session = (await created.json()) as Session;
    await waitForState(events, session.id, 'ready', 90_000);
    await events.return(undefined);
  });
  after(async () => {
    await proxy?.close();
    rmSync(outside, { recursive: true, force: true });
  });

  it('writes the bytes at their offset: 0 creates, then each write goes at the end', async () => {
    mkdirSync(join(proxy.workingDir, 'sub dir'));
    const first = randomBytes(3 * 2 ** 20);
    const second = randomBytes(1000);
    const name = 'sub%20dir/data.bin';
    assert.deepEqual(await put('alice', `${name}?offset=0`, first), {
      status: 200,
      body: { size: first.length }
    });
    assert.deepEqual(await put('alice', `${name}?offset=${first.length}`, second), {
      status: 200,
      body: { size: first.length + second.length }
    });
    assert.deepEqual(disk('sub dir/data.bin'), Buffer.concat([first, second]));
    // Offset 0 again starts the file anew.
    assert.equal((await put('alice', `${name}?offset=0`, second)).status, 200);
    assert.deepEqual(disk('sub dir/data.bin'), second);
    assert.equal((await put('alice', 'empty.bin?offset=0', Buffer.alloc(0))).body.size, 0);
    assert.equal(disk('empty.bin').length, 0);
  });

  it('refuses a write at the wrong offset with the file’s size, and changes nothing', async () => {
    const bytes = randomBytes(5000);
    await put('alice', 'offsets.bin?offset=0', bytes);
    for (const offset of [4999, 5001, 1]) {
      const refused = await put('alice', `offsets.bin?offset=${offset}`, randomBytes(10));
      assert.equal(refused.status, 409, JSON.stringify(refused));
      assert.equal(refused.body.size, 5000);
      assert.equal(refused.body.field, 'offset');
    }
    assert.deepEqual(disk('offsets.bin'), bytes);
    const missing = await put('alice', 'missing.bin?offset=10', randomBytes(10));
    assert.equal(missing.status, 404);
    assert.equal(existsSync(join(proxy.workingDir, 'missing.bin')), false);
    for (const query of ['', '?offset=-1', '?offset=1.5', '?offset=x', '?offset=01']) {
      const bad = await put('alice', `offsets.bin${query}`, randomBytes(10));
      assert.equal(bad.status, 400, query);
      assert.equal(bad.body.field, 'offset', query);
      assert.match(bad.body.message!, /^offset: /);
    }
    assert.deepEqual(disk('offsets.bin'), bytes);
  });

  it('refuses every path that leads outside the root', async () => {
    symlinkSync(outside, join(proxy.workingDir, 'link-out'));
    symlinkSync(join(outside, 'target.bin'), join(proxy.workingDir, 'file-link.bin'));
    const cases: [string, number, RegExp][] = [
      // A `..` spelt any way the URL parser leaves alone reaches the agent as a part.
      ['..%2F..%2Fescape.bin', 400, /path: .*slash/],
      [`%2F${encodeURIComponent(outside.slice(1))}%2Fescape.bin`, 400, /path: .*slash/],
      [`/${outside.slice(1)}/escape.bin`, 400, /path: an absolute path/],
      ['link-out/escape.bin', 403, /outside the root/],
      ['file-link.bin', 403, /symbolic link/],
      ['no-such-folder/x.bin', 404, /no folder/]
    ];
    for (const [path, status, message] of cases) {
      const refused = await put('alice', `${path}?offset=0`, Buffer.from('escaped'));
      assert.equal(refused.status, status, `${path}: ${JSON.stringify(refused)}`);
      assert.match(refused.body.message!, message, path);
    }
    assert.equal(existsSync(join(outside, 'target.bin')), false, 'nothing made outside');
    assert.equal(existsSync(join(outside, 'escape.bin')), false, 'nothing made outside');
  });

  it('lets only the owner write, by PUT only', async () => {
    const bytes = randomBytes(100);
    await put('alice', 'owned.bin?offset=0', bytes);
    const bob = await put('bob', 'owned.bin?offset=0', randomBytes(10));
    assert.equal(bob.status, 403);
    const bobNew = await put('bob', 'bobs.bin?offset=0', randomBytes(10));
    assert.equal(bobNew.status, 403);
    assert.equal(existsSync(join(proxy.workingDir, 'bobs.bin')), false);
    const post = await put('alice', 'owned.bin?offset=100', randomBytes(10), 'POST');
    assert.equal(post.status, 405);
    assert.deepEqual(disk('owned.bin'), bytes);
  });
});

describe('the agent’s write route on its own', () => {
  let dir: string;
  let server: http2.Http2Server;
  let client: http2.ClientHttp2Session;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'interlink-agent-write-'));
    mkdirSync(join(dir, 'root', 'a'), { recursive: true });
    const writer = new FileWriter(join(dir, 'root'));
    server = http2.createServer();
    server.on('stream', (stream, headers) => void writer.handle(stream, headers));
    await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
    client = http2.connect(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
  });
  after(async () => {
    client?.close();
    await new Promise(r => server?.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  /** A stream with `:path` exactly as given, as the proxy's would arrive. */
  const write = (path: string) =>
    new Promise<Answer>((resolve, reject) => {
      const stream = client.request({ ':method': 'PUT', ':path': path });
      let status = 0;
      let text = '';
      stream.on('response', h => (status = Number(h[':status'])));
      stream.on('data', (c: Buffer) => (text += c.toString()));
      stream.on('end', () => resolve({ status, body: JSON.parse(text) }));
      stream.on('error', reject);
      stream.end('escaped');
    });

  it('refuses `..` and `.` itself, whatever reached it, and writes nothing outside', async () => {
    for (const path of [
      '/.interlink/files-write/../escape.bin?offset=0',
      '/.interlink/files-write/a/../../escape.bin?offset=0',
      '/.interlink/files-write/a/%2E%2E/%2E%2E/escape.bin?offset=0',
      '/.interlink/files-write/./escape.bin?offset=0'
    ]) {
      const refused = await write(path);
      assert.equal(refused.status, 400, `${path}: ${JSON.stringify(refused)}`);
      assert.equal(refused.body.field, 'path');
    }
    assert.equal(existsSync(join(dir, 'escape.bin')), false);
    assert.equal((await write('/.interlink/files-write/a/in.bin?offset=0')).status, 200);
    assert.equal(readFileSync(join(dir, 'root', 'a', 'in.bin'), 'utf8'), 'escaped');
  });
});
