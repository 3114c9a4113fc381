/**
 * Web apps in a job: a kernel session on the embedded local site declares a port, its job starts
 * a small web app there (HTTP page + WebSocket echo), and the app is reached through
 * {base}/sessions/{id}/ports/{port}/ by its owner only; an undeclared port is refused, by the
 * proxy and by the agent.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { AGENT_ENV, type Session } from '@jupyterlab-interlink/contract';
import type { RunningProxyServer } from './index.js';
import { TOKENS, startLocalProxy, type LocalProxy } from './testing/local-proxy.js';
import { readEvents, waitForState } from './testing/events.js';
import { freePort } from './agent/jupyter.js';

const ALICE = TOKENS.alice;
const BOB = TOKENS.bob;
const APP = fileURLToPath(new URL('./testing/port-app.js', import.meta.url));

/** Opens a WebSocket and resolves with its first message, or rejects with the refusal. */
function echo(url: string, headers: Record<string, string>, send: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => reject(new Error(`HTTP ${res.statusCode} ${body}`)));
    });
    ws.once('error', reject);
    ws.once('open', () => ws.send(send));
    ws.once('message', data => {
      resolve(data.toString());
      ws.close();
    });
  });
}

describe('declared ports of a kernel session', () => {
  let proxy: LocalProxy;
  let server: RunningProxyServer;
  let api: string;
  let appPort: number;
  // A server listening in the job on a port nobody declared: the tunnel must never reach it.
  let bystander: http.Server;
  let bystanderPort: number;
  let bystanderHits = 0;
  const as = (token: string, init: RequestInit = {}) => ({
    ...init,
    headers: {
      authorization: `token ${token}`,
      'content-type': 'application/json',
      ...init.headers
    }
  });

  before(async () => {
    appPort = await freePort();
    bystander = http.createServer((_req, res) => {
      bystanderHits++;
      res.end('bystander');
    });
    await new Promise<void>(r => bystander.listen(0, '127.0.0.1', r));
    bystanderPort = (bystander.address() as { port: number }).port;
    proxy = await startLocalProxy({
      // The job starts the user's app in the background, then its Jupyter server.
      agentEnv: {
        [AGENT_ENV.jupyterCommand]: JSON.stringify([
          '/bin/sh',
          '-c',
          `"${process.execPath}" "${APP}" ${appPort} & exec /usr/bin/python3 -m jupyter_server "$@"`,
          'sh'
        ])
      }
    });
    ({ server, api } = proxy);
  });
  after(async () => {
    await proxy?.close();
    await new Promise(r => bystander?.close(r));
  });

  it('answers bad ports with 400 naming the field', async () => {
    const cases: [unknown, RegExp][] = [
      ['6006', /a list of port numbers/],
      [[6006.5], /whole numbers from 1024 to 65535; 6006.5/],
      [[80], /whole numbers from 1024 to 65535; 80 is not/],
      [[70000], /70000 is not/],
      [['6006'], /"6006" is not/],
      [[6006, 6006], /6006 is listed twice/],
      [[2001, 2002, 2003, 2004, 2005, 2006, 2007, 2008, 2009], /at most 8 ports; 9 given/]
    ];
    for (const [ports, message] of cases) {
      const res = await fetch(
        `${api}/sessions`,
        as(ALICE, {
          method: 'POST',
          body: JSON.stringify({ site: 'local', profile: 'small', type: 'kernel', ports })
        })
      );
      assert.equal(res.status, 400, JSON.stringify(ports));
      const error = (await res.json()) as { field?: string; message: string };
      assert.equal(error.field, 'ports', JSON.stringify(error));
      assert.match(error.message, message);
    }
    const job = await fetch(
      `${api}/sessions`,
      as(ALICE, {
        method: 'POST',
        body: JSON.stringify({
          site: 'local',
          profile: 'small',
          type: 'job',
          command: ['true'],
          ports: [6006]
        })
      })
    );
    assert.equal(job.status, 400);
    assert.match(((await job.json()) as { message: string }).message, /only kernel sessions/);
    assert.deepEqual(await (await fetch(`${api}/sessions`, as(ALICE))).json(), []);
  });

  it('serves a declared port to its owner over HTTP and WebSocket, and nothing else', async () => {
    const events = readEvents(await fetch(`${api}/events`, as(ALICE)));
    const created = await fetch(
      `${api}/sessions`,
      as(ALICE, {
        method: 'POST',
        body: JSON.stringify({ site: 'local', profile: 'small', type: 'kernel', ports: [appPort] })
      })
    );
    assert.equal(created.status, 201);
    const session = (await created.json()) as Session;
    assert.deepEqual(session.ports, [appPort]);
    await waitForState(events, session.id, 'ready', 90_000);
    const root = `${server.url}${session.url}ports/${appPort}/`;
    const prefix = `${session.url}ports/${appPort}`;

    // The page, served under its prefix (the path reached the app unstripped), sandboxed like
    // the remote Jupyter server's pages, and without the Jupyter server's token.
    const page = await fetch(root, as(ALICE));
    const html = await page.text();
    assert.equal(page.status, 200, html);
    const shown = JSON.parse(/<pre id="page">(.*)<\/pre>/.exec(html)![1]) as Record<
      string,
      unknown
    >;
    assert.deepEqual(shown, {
      app: 'port-app',
      prefix,
      session: session.id,
      authorization: null
    });
    assert.match(page.headers.get('content-security-policy') ?? '', /sandbox/);
    const bare = await fetch(root.slice(0, -1), { ...as(ALICE), redirect: 'manual' });
    assert.equal(bare.status, 301);
    assert.equal(bare.headers.get('location'), `${prefix}/`);

    const wsUrl = `${root.replace(/^http/, 'ws')}echo`;
    const origin = server.url;
    assert.equal(
      await echo(wsUrl, { authorization: `token ${ALICE}`, origin }, 'hello'),
      'echo: hello'
    );

    // Another user, no credentials, another origin: refused on both.
    assert.equal((await fetch(root, as(BOB))).status, 403);
    assert.equal((await fetch(root)).status, 401);
    await assert.rejects(echo(wsUrl, { authorization: `token ${BOB}`, origin }, 'x'), /HTTP 403/);
    await assert.rejects(
      echo(wsUrl, { authorization: `token ${ALICE}`, origin: 'http://evil.example' }, 'x'),
      /HTTP 403/
    );

    // An undeclared port, though something listens there: refused, naming it and the declared one.
    const other = await fetch(`${server.url}${session.url}ports/${bystanderPort}/`, as(ALICE));
    assert.equal(other.status, 404);
    const refusal = (await other.json()) as { error: string; message: string };
    assert.equal(refusal.error, 'port_not_declared');
    assert.match(refusal.message, new RegExp(`port ${bystanderPort} .*declared: ${appPort}\\b`));
    await assert.rejects(
      echo(
        `${server.url.replace(/^http/, 'ws')}${session.url}ports/${bystanderPort}/`,
        { authorization: `token ${ALICE}`, origin },
        'x'
      ),
      new RegExp(`HTTP 404 .*port ${bystanderPort}`)
    );
    assert.equal((await fetch(`${server.url}${session.url}ports/x/`, as(ALICE))).status, 404);
    assert.equal(bystanderHits, 0, 'nothing reached the undeclared port');

    await fetch(`${api}/sessions/${session.id}`, as(ALICE, { method: 'DELETE' }));
    await waitForState(events, session.id, 'cancelled', 30_000);
    await events.return(undefined);
  });
});
