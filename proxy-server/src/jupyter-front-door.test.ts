// `jupyter lab` with the wheel (the project's .venv) as the standalone front door: a remote
// kernel's WebSocket, authenticated by jupyter_server, is handed over to the Node service as a
// socket on plain HTTP (no frame passes through Python), spliced on HTTPS (TLS state cannot move
// between processes), and handed over again to a service that was restarted.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';
import {
  readySession,
  startLab,
  waitReady,
  type Lab,
  type Session
} from './testing/jupyter-lab.js';
import { selfSigned, type Certificate } from './testing/certificate.js';

/** Opens the remote kernel's channels through the lab; resolves once `print(6*7)` answers. */
async function kernelSays42(lab: Lab, session: Session, kernelId: string): Promise<WebSocket> {
  const { ca, token } = lab;
  const url = `${lab.url.replace(/^http/, 'ws')}${session.url}api/kernels/${kernelId}/channels`;
  const ws = new WebSocket(url, {
    headers: { authorization: `token ${token}` },
    ca,
    perMessageDeflate: false
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
  const msgId = randomBytes(8).toString('hex');
  const output = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no output from the kernel')), 60_000);
    ws.on('message', data => {
      const msg = JSON.parse(data.toString());
      if (msg.parent_header?.msg_id === msgId && msg.msg_type === 'stream') {
        clearTimeout(timer);
        resolve(String(msg.content.text).trim());
      }
    });
  });
  ws.send(
    JSON.stringify({
      header: {
        msg_id: msgId,
        msg_type: 'execute_request',
        username: 'test',
        session: msgId,
        version: '5.3'
      },
      parent_header: {},
      metadata: {},
      content: { code: 'print(6*7)', silent: false, allow_stdin: false },
      channel: 'shell'
    })
  );
  assert.equal(await output, '42');
  return ws;
}

/** The pid of the process holding the server's end of a client connection, from `ss`. */
function serverSideOwner(lab: Lab, ws: WebSocket): number {
  const clientPort = (ws as unknown as { _socket: { localPort: number } })._socket.localPort;
  const line = execFileSync('ss', ['-tnpH', 'state', 'established', `( dport = :${clientPort} )`], {
    encoding: 'utf8'
  });
  const pids = [...line.matchAll(/pid=(\d+)/g)].map(m => Number(m[1]));
  assert.equal(new Set(pids).size, 1, `one process holds the connection: ${line}`);
  return pids[0];
}

async function startKernel(lab: Lab, session: Session): Promise<string> {
  const res = await lab.api<{ id: string }>('POST', `/sessions/${session.id}/api/kernels`, {
    name: 'python3'
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body.id;
}

describe('jupyter lab as the front door of remote kernels', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'interlink-front-door-'));
  const labs: Lab[] = [];
  const sockets: WebSocket[] = [];

  let tls: Certificate;
  before(() => {
    tls = selfSigned(dir, '127.0.0.1', 'IP:127.0.0.1');
  });

  after(async () => {
    for (const ws of sockets) ws.terminate();
    for (const lab of labs) {
      const { body } = await lab.api<Session[]>('GET', '/api/sessions').catch(() => ({
        body: [] as Session[]
      }));
      for (const s of body ?? []) await lab.api('DELETE', `/api/sessions/${s.id}`).catch(() => {});
      await lab.stop();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('hands a kernel WebSocket to the Node service on plain HTTP, also after the service restarts', async () => {
    const lab = await startLab(path.join(dir, 'http'));
    labs.push(lab);
    const session = await readySession(lab);
    const kernel = await startKernel(lab, session);
    const ws = await kernelSays42(lab, session, kernel);
    sockets.push(ws);
    const first = lab.servicePid();
    assert.equal(serverSideOwner(lab, ws), first, 'the Node service holds the browser socket');

    // The service dies; jupyter_server restarts it with a new channel, and hands over to that one.
    process.kill(first, 'SIGKILL');
    const deadline = Date.now() + 60_000;
    while (lab.servicePid() === first || (await lab.api('GET', '/api/sites')).status !== 200) {
      assert.ok(Date.now() < deadline, 'the service was not restarted');
      await sleep(200);
    }
    await waitReady(lab, session.id);
    const again = await kernelSays42(lab, session, kernel);
    sockets.push(again);
    assert.equal(serverSideOwner(lab, again), lab.servicePid());
  });

  it('answers 503, never an empty 200, when the service is gone before it answers', async () => {
    const lab = await startLab(path.join(dir, 'gone'));
    labs.push(lab);
    // Killed: jupyter_server starts it again after half a second; asked at once, it is away.
    process.kill(lab.servicePid(), 'SIGKILL');
    const res = await lab.api<{ error: string }>('POST', '/api/sessions', {
      site: 'local',
      profile: 'small',
      type: 'kernel'
    });
    assert.equal(res.status, 503, JSON.stringify(res.body));
    assert.equal(res.body.error, 'service_unavailable');
  });

  it('splices a kernel WebSocket on HTTPS, where the socket cannot change hands', async () => {
    const lab = await startLab(path.join(dir, 'https'), { cert: tls.certFile, key: tls.keyFile });
    labs.push(lab);
    const session = await readySession(lab);
    const kernel = await startKernel(lab, session);
    const ws = await kernelSays42(lab, session, kernel);
    sockets.push(ws);
    assert.equal(serverSideOwner(lab, ws), lab.pid, 'jupyter_server keeps the TLS connection');
  });
});
