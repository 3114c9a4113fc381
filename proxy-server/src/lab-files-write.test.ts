// `PUT {lab}/interlink/files-write/<path>?offset=N` of the server extension (the wheel in the
// project's .venv, a real `jupyter lab`): where copies from a session land in JupyterLab's own
// files. The same rules as a session's agent (files-write.test.ts), checked by jupyter_server's
// own sign-in and authorizer before a byte is written. And the other way, a session's
// `files-write/` through the same lab's front door, its body streamed to the Node service.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync
} from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readySession, startLab, type Lab, type Session } from './testing/jupyter-lab.js';

// jupyter_server's authorizer, as a site may configure it: no contents writes under read-only/.
const READ_ONLY_AUTHORIZER = `
from jupyter_server.auth import Authorizer

class ReadOnlyFolder(Authorizer):
    def is_authorized(self, handler, user, action, resource):
        return not (resource == "contents" and action == "write" and "read-only" in handler.request.path)

c.ServerApp.authorizer_class = ReadOnlyFolder
`;

interface Answer {
  status: number;
  body: { size?: number; error?: string; field?: string; message?: string };
  /** The answer said `Connection: close`. */
  closes?: true;
}

describe("raw writes into JupyterLab's own files", () => {
  let dir: string;
  let root: string;
  let outside: string;
  let lab: Lab;
  let session: Session | undefined;

  /** A request on the path exactly as given (a URL string would have its `..` resolved first). */
  const send = (
    rawPath: string,
    body: Buffer,
    init: { method?: string; token?: string; prefix?: string } = {}
  ) =>
    new Promise<Answer>((resolve, reject) => {
      const token = init.token ?? lab.token;
      const agent = new http.Agent({ keepAlive: true });
      const { hostname, port } = new URL(lab.url);
      const req = http.request(
        {
          hostname,
          port,
          path: `${init.prefix ?? '/interlink/'}files-write/${rawPath}`,
          method: init.method ?? 'PUT',
          // A connection of its own, kept alive as a proxy's would be (so a refusal's
          // `Connection: close` is the server's word, not an echo of ours), never reused.
          agent,
          headers: token ? { authorization: `token ${token}` } : {}
        },
        res => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => {
            agent.destroy();
            let parsed: Answer['body'] = {};
            try {
              parsed = JSON.parse(text);
            } catch {
              // a refusal without JSON (405 from tornado): its status says enough
            }
            const closes = res.headers.connection === 'close' ? { closes: true as const } : {};
            resolve({ status: res.statusCode!, body: parsed, ...closes });
          });
        }
      );
      req.on('error', err => {
        agent.destroy();
        reject(err);
      });
      req.end(body);
    });
  const disk = (name: string) => readFileSync(path.join(root, name));

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'interlink-lab-write-'));
    root = path.join(dir, 'lab');
    outside = path.join(dir, 'outside');
    mkdirSync(path.join(root, '.cfg'), { recursive: true });
    mkdirSync(outside);
    mkdirSync(path.join(root, 'read-only'));
    const config = path.join(root, '.cfg', 'jupyter_server_config.py');
    writeFileSync(config, READ_ONLY_AUTHORIZER);
    lab = await startLab(root);
  });
  after(async () => {
    if (session) await lab.api('DELETE', `/api/sessions/${session.id}`);
    await lab?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes the bytes at their offset, streamed: 0 creates, then each write goes at the end', async () => {
    mkdirSync(path.join(root, 'sub dir'));
    const first = randomBytes(20 * 2 ** 20);
    const second = randomBytes(1000);
    assert.deepEqual(await send('sub%20dir/data.bin?offset=0', first), {
      status: 200,
      body: { size: first.length }
    });
    assert.deepEqual(await send(`sub%20dir/data.bin?offset=${first.length}`, second), {
      status: 200,
      body: { size: first.length + second.length }
    });
    assert.deepEqual(disk('sub dir/data.bin'), Buffer.concat([first, second]));
    assert.equal((await send('sub%20dir/data.bin?offset=0', second)).body.size, second.length);
    assert.deepEqual(disk('sub dir/data.bin'), second);
    assert.equal((await send('empty.bin?offset=0', Buffer.alloc(0))).body.size, 0);
    assert.equal(disk('empty.bin').length, 0);
  });

  it('refuses a write at the wrong offset with the file’s size, and changes nothing', async () => {
    const bytes = randomBytes(5000);
    await send('offsets.bin?offset=0', bytes);
    for (const offset of [4999, 5001, 1]) {
      const refused = await send(`offsets.bin?offset=${offset}`, randomBytes(10));
      assert.equal(refused.status, 409, JSON.stringify(refused));
      assert.equal(refused.body.size, 5000);
      assert.equal(refused.body.field, 'offset');
    }
    assert.equal((await send('missing.bin?offset=10', randomBytes(10))).status, 404);
    assert.equal(existsSync(path.join(root, 'missing.bin')), false);
    for (const query of ['', '?offset=-1', '?offset=1.5', '?offset=x', '?offset=01']) {
      const bad = await send(`offsets.bin${query}`, randomBytes(10));
      assert.equal(bad.status, 400, query);
      assert.equal(bad.body.field, 'offset', query);
      assert.match(bad.body.message!, /^offset: /);
    }
    // A GET must never open the file (offset 0 would empty it).
    assert.equal(
      (await send('offsets.bin?offset=0', Buffer.alloc(0), { method: 'GET' })).status,
      405
    );
    assert.deepEqual(disk('offsets.bin'), bytes);
  });

  it('refuses every path that leads outside the root', async () => {
    symlinkSync(outside, path.join(root, 'link-out'));
    symlinkSync(path.join(outside, 'target.bin'), path.join(root, 'file-link.bin'));
    const cases: [string, number, RegExp][] = [
      ['../escape.bin', 400, /path: "\.\." is not allowed/],
      ['sub%20dir/..%2F..%2Fescape.bin', 400, /path: "\.\." is not allowed/],
      [`/${outside.slice(1)}/escape.bin`, 400, /path: an absolute path/],
      ['link-out/escape.bin', 403, /outside the root/],
      ['file-link.bin', 403, /symbolic link/],
      ['no-such-folder/x.bin', 404, /no folder/]
    ];
    for (const [rawPath, status, message] of cases) {
      const refused = await send(`${rawPath}?offset=0`, Buffer.from('escaped'));
      assert.equal(refused.status, status, `${rawPath}: ${JSON.stringify(refused)}`);
      assert.match(refused.body.message!, message, rawPath);
    }
    assert.equal(existsSync(path.join(outside, 'target.bin')), false, 'nothing made outside');
    assert.equal(existsSync(path.join(outside, 'escape.bin')), false, 'nothing made outside');
    assert.equal(existsSync(path.join(dir, 'escape.bin')), false, 'nothing made outside');
  });

  it('writes for a signed-in user allowed to write contents only', async () => {
    const nobody = await send('anon.bin?offset=0', randomBytes(10), { token: '' });
    assert.equal(nobody.status, 403);
    // Its body unread, the connection closes, and the answer says so: a proxy in front (the
    // hub's) would otherwise send the next request down a closing connection.
    assert.equal(nobody.closes, true);
    const wrong = await send('anon.bin?offset=0', randomBytes(10), { token: 'not-the-token' });
    assert.equal(wrong.status, 403);
    assert.equal(existsSync(path.join(root, 'anon.bin')), false);
    const readOnly = await send('read-only/x.bin?offset=0', randomBytes(10));
    assert.equal(readOnly.status, 403);
    assert.equal(existsSync(path.join(root, 'read-only', 'x.bin')), false);
  });

  it("passes a session's writes on through the front door as they arrive, its answers too", async () => {
    // The local site's session serves JupyterLab's root: the file lands there.
    session = await readySession(lab);
    const prefix = session.url;
    const bytes = randomBytes(40 * 2 ** 20);
    assert.deepEqual(await send('through.bin?offset=0', bytes, { prefix }), {
      status: 200,
      body: { size: bytes.length }
    });
    assert.deepEqual(disk('through.bin'), bytes);
    // Refused at the agent while the body is still on its way: the answer arrives all the same.
    const refused = await send('through.bin?offset=5', randomBytes(8 * 2 ** 20), { prefix });
    assert.equal(refused.status, 409);
    assert.equal(refused.body.size, bytes.length);
    const nobody = await send('stranger.bin?offset=0', randomBytes(10), { prefix, token: '' });
    assert.equal(nobody.status, 403);
    assert.equal(nobody.closes, true);
    assert.equal(existsSync(path.join(root, 'stranger.bin')), false);
    const get = await send('through.bin?offset=0', Buffer.alloc(0), { prefix, method: 'GET' });
    assert.equal(get.status, 405);
    assert.deepEqual(disk('through.bin'), bytes);
  });

  it('keeps what arrived of a write cut off mid-body, and the next write goes on from there', async () => {
    const { hostname, port } = new URL(lab.url);
    const bytes = randomBytes(24 * 2 ** 20);
    const sent = 6 * 2 ** 20;
    for (const [prefix, name] of [
      ['/interlink/', 'cut-here.bin'],
      [session!.url, 'cut-there.bin']
    ]) {
      // Declares the whole file, sends a quarter, then drops the connection (a tunnel cut).
      await new Promise<void>(resolve => {
        const req = http.request({
          hostname,
          port,
          path: `${prefix}files-write/${name}?offset=0`,
          method: 'PUT',
          agent: false,
          headers: { authorization: `token ${lab.token}`, 'content-length': bytes.length }
        });
        req.on('error', () => resolve());
        req.write(bytes.subarray(0, sent), () =>
          setTimeout(() => {
            req.destroy();
            resolve();
          }, 1000)
        );
      });
      // What landed is the start of the file, in order; once it stops growing, the rest goes
      // on at its size, as the copy does after asking it.
      let size = -1;
      for (let same = 0; same < 3; await sleep(300)) {
        const now = existsSync(path.join(root, name)) ? disk(name).length : 0;
        same = now === size ? same + 1 : 0;
        size = now;
      }
      assert.ok(size > 0 && size <= sent, `${name}: ${size} bytes landed`);
      const rest = await send(`${name}?offset=${size}`, bytes.subarray(size), { prefix });
      assert.deepEqual(rest, { status: 200, body: { size: bytes.length } }, name);
      assert.deepEqual(disk(name), bytes, name);
    }
    // Every refusal and cut above was handled, none left to tornado's last resort.
    assert.doesNotMatch(lab.log(), /Uncaught exception/);
  });
});
