/**
 * The public contract, driven from outside with no browser: REST, the event stream, and a remote
 * kernel reached through {base}/sessions/{id}/, on the embedded local site with real processes
 * (the agent, Debian's jupyter_server, ipykernel).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Session, Site } from '@jupyterlab-interlink/contract';
import { defaultLocalSite } from '@jupyterlab-interlink/vk-bridge';
import { TokenAuthenticator, startProxyServer, type RunningProxyServer } from './index.js';
import { createLogger } from './logging.js';
import { KernelChannel, startKernel } from './testing/kernel-client.js';
import { readEvents, waitForState } from './testing/events.js';

const ALICE = 'alice-token-0123456789';
const BOB = 'bob-token-0123456789';

describe('public contract on the local site', () => {
  let server: RunningProxyServer;
  let api: string;
  // JupyterLab's root standalone: where the local site's sessions start.
  const notebookDir = mkdtempSync(join(tmpdir(), 'contract-notebooks-'));
  const as = (token: string, init: RequestInit = {}) => ({
    ...init,
    headers: {
      authorization: `token ${token}`,
      'content-type': 'application/json',
      ...init.headers
    }
  });

  before(async () => {
    server = await startProxyServer({
      sites: [defaultLocalSite()],
      auth: new TokenAuthenticator(
        new Map([
          [ALICE, 'alice'],
          [BOB, 'bob']
        ])
      ),
      logger: createLogger('warn'),
      workingDir: notebookDir
    });
    api = `${server.url}/interlink/api`;
  });
  after(async () => {
    await server?.close();
    rmSync(notebookDir, { recursive: true, force: true });
  });

  /** Launches a batch job as alice on the local site's small profile; returns its id. */
  const launchJob = async (fields: Record<string, unknown>): Promise<string> => {
    const res = await fetch(
      `${api}/sessions`,
      as(ALICE, {
        method: 'POST',
        body: JSON.stringify({ site: 'local', profile: 'small', type: 'job', ...fields })
      })
    );
    assert.equal(res.status, 201);
    return ((await res.json()) as Session).id;
  };

  /** Polls the caller's session until it reaches a final state. */
  const settled = async (id: string, token = ALICE): Promise<Session> => {
    let session: Session | undefined;
    for (let i = 0; i < 600; i++) {
      session = (await (await fetch(`${api}/sessions/${id}`, as(token))).json()) as Session;
      if (['completed', 'failed', 'cancelled', 'expired'].includes(session.state)) return session;
      await new Promise(r => setTimeout(r, 100));
    }
    assert.fail(`session ${id} still ${session?.state}`);
  };

  it('refuses callers without a valid token', async () => {
    assert.equal((await fetch(`${api}/sites`)).status, 401);
    assert.equal((await fetch(`${api}/sites`, as('wrong'))).status, 401);
    assert.equal(
      (await fetch(`${api}/sessions`, as('wrong', { method: 'POST', body: '{}' }))).status,
      401
    );
  });

  it('lists the embedded local site with its profiles', async () => {
    const res = await fetch(`${api}/sites`, as(ALICE));
    assert.equal(res.status, 200);
    const sites = (await res.json()) as Site[];
    const local = sites.find(s => s.id === 'local');
    assert.ok(local, 'the local site is listed');
    assert.equal(local.kind, 'cloud');
    assert.ok(local.profiles.length >= 1);
    for (const p of local.profiles) {
      assert.equal(typeof p.resources.cpu, 'number');
      assert.ok(p.maxWalltime >= 60);
    }
  });

  it('answers bad launches with 400 naming the field', async () => {
    const cases: [unknown, string, RegExp][] = [
      [
        { site: 'nowhere', profile: 'small', type: 'kernel' },
        'site',
        /unknown site "nowhere"; available: local/
      ],
      [
        { site: 'local', profile: 'huge', type: 'kernel' },
        'profile',
        /no profile "huge"; available: small/
      ],
      [{ site: 'local', profile: 'small', type: 'daemon' }, 'type', /type/],
      [
        { site: 'local', profile: 'small', type: 'kernel', walltime: 999999 },
        'walltime',
        /above the 8:00:00/
      ],
      [
        { site: 'local', profile: 'small', type: 'kernel', walltime: 'long' },
        'walltime',
        /walltime/
      ],
      [{ site: 'local', profile: 'small', type: 'kernel', gpus: 4 }, 'gpus', /gpus/],
      [{ site: 'local', profile: 'small', type: 'job' }, 'path', /notebook or script/]
    ];
    for (const [body, field, message] of cases) {
      const res = await fetch(
        `${api}/sessions`,
        as(ALICE, { method: 'POST', body: JSON.stringify(body) })
      );
      assert.equal(res.status, 400, JSON.stringify(body));
      const error = (await res.json()) as { error: string; message: string; field?: string };
      assert.equal(error.field, field, JSON.stringify(error));
      assert.match(error.message, message);
    }
    const notJson = await fetch(
      `${api}/sessions`,
      as(ALICE, { method: 'POST', body: '{"site": ' })
    );
    assert.equal(notJson.status, 400);
    assert.equal(((await notJson.json()) as { error: string }).error, 'invalid_json');
    // Nothing was launched by any of these.
    assert.deepEqual(await (await fetch(`${api}/sessions`, as(ALICE))).json(), []);
  });

  it('launches a kernel session, runs code remotely, and stops it with its processes', async () => {
    const events = readEvents(await fetch(`${api}/events`, as(ALICE)));
    const created = await fetch(
      `${api}/sessions`,
      as(ALICE, {
        method: 'POST',
        body: JSON.stringify({ site: 'local', profile: 'small', type: 'kernel', walltime: 600 })
      })
    );
    assert.equal(created.status, 201);
    const session = (await created.json()) as Session;
    assert.equal(session.owner, 'alice');
    assert.equal(session.url, `/interlink/sessions/${session.id}/`);
    assert.ok(['pending', 'queued', 'starting'].includes(session.state));

    // The state reaches us by push, not by polling.
    await waitForState(events, session.id, 'ready', 90_000);

    // Bob sees neither the session nor its Jupyter server, on HTTP or WebSocket.
    assert.deepEqual(await (await fetch(`${api}/sessions`, as(BOB))).json(), []);
    assert.equal((await fetch(`${api}/sessions/${session.id}`, as(BOB))).status, 404);
    assert.equal((await fetch(`${server.url}${session.url}api/status`, as(BOB))).status, 403);
    assert.equal((await fetch(`${server.url}${session.url}api/status`)).status, 401);

    const remote = {
      baseUrl: `${server.url}${session.url}`,
      headers: { authorization: `token ${ALICE}` }
    };
    const kernelId = await startKernel(remote);
    await assert.rejects(
      KernelChannel.open({ ...remote, headers: { authorization: `token ${BOB}` } }, kernelId),
      /403/
    );
    await assert.rejects(
      KernelChannel.open(
        { ...remote, headers: { ...remote.headers, origin: 'http://evil.example' } },
        kernelId
      ),
      /403/
    );
    const channel = await KernelChannel.open(remote, kernelId);
    const out = await channel.execute(
      "import os; print(os.environ['INTERLINK_SESSION_ID'], os.getpid())"
    );
    const [remoteSession, pidText] = out.trim().split(' ');
    assert.equal(remoteSession, session.id, 'the kernel runs inside the session');
    const kernelPid = Number(pidText);
    assert.ok(kernelPid > 0 && kernelPid !== process.pid);
    channel.close();

    const logs = await (await fetch(`${api}/sessions/${session.id}/logs`, as(ALICE))).text();
    assert.match(logs, /Jupyter/i, 'the job log tells what the agent did');

    const stopped = await fetch(`${api}/sessions/${session.id}`, as(ALICE, { method: 'DELETE' }));
    assert.equal(stopped.status, 200);
    const final = await waitForState(events, session.id, 'cancelled', 30_000);
    assert.match((final.data as Session).reason ?? '', /stopped by alice/);
    assert.ok(!isAlive(kernelPid), `the remote kernel (pid ${kernelPid}) is gone`);
    assert.equal((await fetch(`${server.url}${session.url}api/status`, as(ALICE))).status, 503);
    await events.return(undefined);
  });

  it('keeps a failed launch listed with its reason, in the job’s own words', async () => {
    const id = await launchJob({ command: ['/bin/sh', '-c', 'echo about to fail; exit 3'] });
    const session = await settled(id);
    assert.equal(session?.state, 'failed');
    assert.equal(session?.reason, 'exit code 3: about to fail', 'the log’s last line says why');
    assert.equal(session?.exitCode, 3);
    assert.match(
      await (await fetch(`${api}/sessions/${id}/logs`, as(ALICE))).text(),
      /about to fail/
    );
  });

  it('runs a notebook in a subfolder as a batch job; the executed copy lands next to it', async () => {
    mkdirSync(join(notebookDir, 'analysis'));
    const notebook = {
      cells: [
        {
          cell_type: 'code',
          execution_count: null,
          metadata: {},
          outputs: [],
          source: "import os; print('answer', 6 * 7, os.environ['INTERLINK_SESSION_TYPE'])"
        }
      ],
      metadata: { kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' } },
      nbformat: 4,
      nbformat_minor: 5
    };
    writeFileSync(join(notebookDir, 'analysis', 'run.ipynb'), JSON.stringify(notebook));
    const id = await launchJob({ path: 'analysis/run.ipynb', name: 'run.ipynb' });
    const session = await settled(id);
    const log = await (await fetch(`${api}/sessions/${id}/logs`, as(ALICE))).text();
    assert.equal(session.state, 'completed', `${session.reason ?? ''}\n${log}`);
    const executed = JSON.parse(
      readFileSync(join(notebookDir, 'analysis', 'run.output.ipynb'), 'utf8')
    ) as { cells: { outputs: { text: string | string[] }[] }[] };
    const text = [executed.cells[0].outputs[0].text].flat().join('');
    assert.equal(text, 'answer 42 job\n');
  });

  it('serves metrics and liveness', async () => {
    assert.equal((await fetch(`${server.url}/interlink/healthz`)).status, 200);
    const metrics = await (await fetch(`${server.url}/interlink/metrics`, as(ALICE))).text();
    assert.match(metrics, /interlink_sessions\{site="local",state="cancelled"\} 1/);
    assert.match(metrics, /interlink_launches_total/);
  });
});

function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}
