/**
 * `jupyter lab` of the project's virtualenv (.venv, or INTERLINK_VENV) with the wheel installed:
 * the standalone product as a user runs it, on a free loopback port, plain HTTP or HTTPS, its
 * token in the environment (never on the command line), its interLink API ready.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { freePort } from '../agent/jupyter.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const VENV = process.env.INTERLINK_VENV ?? path.join(REPO, '.venv');

export interface Lab {
  url: string;
  token: string;
  /** The certificate to trust, on HTTPS. */
  ca?: Buffer;
  pid: number;
  /** Everything the lab and its Node service wrote (stdout and stderr). */
  log(): string;
  /** The Node service's pid, as the lab's log last named it (it changes on a restart). */
  servicePid(): number;
  /** Its interLink API, `{base}` = `/interlink`: status and parsed JSON. */
  api<T>(method: string, route: string, body?: unknown): Promise<{ status: number; body: T }>;
  stop(): Promise<void>;
}

export async function startLab(root: string, tls?: { cert: string; key: string }): Promise<Lab> {
  mkdirSync(root, { recursive: true });
  const port = await freePort();
  const token = randomBytes(24).toString('hex');
  const child: ChildProcess = spawn(
    path.join(VENV, 'bin', 'jupyter'),
    [
      'lab',
      '--no-browser',
      '--allow-root',
      '--ServerApp.ip=127.0.0.1',
      `--ServerApp.port=${port}`,
      `--ServerApp.root_dir=${root}`,
      ...(tls ? [`--ServerApp.certfile=${tls.cert}`, `--ServerApp.keyfile=${tls.key}`] : [])
    ],
    {
      env: { ...process.env, JUPYTER_TOKEN: token, JUPYTER_CONFIG_DIR: path.join(root, '.cfg') },
      stdio: ['ignore', 'pipe', 'pipe']
    }
  );
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const ca = tls && readFileSync(tls.cert);
  const api: Lab['api'] = (method, route, body) =>
    new Promise((resolve, reject) => {
      const req = (tls ? https : http).request(
        `${url}/interlink${route}`,
        {
          method,
          ca,
          headers: { authorization: `token ${token}`, 'content-type': 'application/json' }
        },
        res => {
          let text = '';
          res.on('data', d => (text += d));
          res.on('end', () =>
            resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : undefined })
          );
        }
      );
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  const servicePid = (): number => {
    const pids = [...log.matchAll(/interLink: Node service \(pid (\d+)\)/g)];
    return pids.length ? Number(pids[pids.length - 1][1]) : 0;
  };
  const deadline = Date.now() + 90_000;
  for (;;) {
    const up = await api('GET', '/api/sites').then(
      r => r.status === 200,
      () => false
    );
    if (up) break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`jupyter lab: ${log}`);
    await sleep(300);
  }
  return {
    url,
    token,
    ca,
    pid: child.pid!,
    log: () => log,
    servicePid,
    api,
    stop: () =>
      new Promise(resolve => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      })
  };
}

export interface Session {
  id: string;
  state: string;
  url: string;
}

/** A kernel session on the local site, launched through the lab and ready. */
export async function readySession(lab: Lab, site = 'local', profile = 'small'): Promise<Session> {
  const created = await lab.api<Session>('POST', '/api/sessions', {
    site,
    profile,
    type: 'kernel',
    walltime: 3600
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return waitReady(lab, created.body.id);
}

export async function waitReady(lab: Lab, id: string): Promise<Session> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const { body } = await lab.api<Session>('GET', `/api/sessions/${id}`);
    if (body?.state === 'ready') return body;
    assert.ok(Date.now() < deadline, `session not ready: ${JSON.stringify(body)}`);
    await sleep(300);
  }
}
