/**
 * A restart of the proxy server with 20 live sessions, through the public API only: the server is
 * started as the CLI starts it (startProxyServer, the sites' own drivers, a state folder), stopped,
 * and started again on the same backend and port. Every session comes back once, for its owner
 * only, in the state the backend shows; agents get back in with their secret (its hash lives in
 * the pod's annotations), nobody else does; a stop after the restart reaches the backend.
 *
 * Backends: the kubernetes driver on vk-bridge's fake API server (pods whose states the test sets,
 * a real tunnel agent for one of them), the slurm driver on the local single-node Slurm, and the
 * interlink driver on interLink's real API server (HTCondor's plugin behind it as handles.py
 * answers, its jobs moved by the test).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1Pod, V1Secret } from '@kubernetes/client-node';
import type { Session } from '@jupyterlab-interlink/contract';
import { LABELS, podName, type SiteConfig } from '@jupyterlab-interlink/vk-bridge';
import {
  FakeApiServer,
  FakeHtcondorPlugin,
  InterlinkApi,
  leonardoOnFakeApi,
  terminatedAgent
} from '@jupyterlab-interlink/vk-bridge/testing';
import { TokenAuthenticator, startProxyServer, type RunningProxyServer } from './index.js';
import { createLogger } from './logging.js';
import { TunnelAgent } from './agent/tunnel-agent.js';
import { SESSION_HEADER } from './tunnel/protocol.js';
import { upgradeStatus } from './testing/upgrade.js';
import { readEvents, waitForEvent } from './testing/events.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ALICE = 'alice-token-0123456789';
const BOB = 'bob-token-0123456789';
/** Not DNS-safe on purpose: the owner must come back from the annotation, not the label. */
const OWNER = 'Alice.Smith@uni.example';
const COUNT = 20;

const as = (token: string, init: RequestInit = {}): RequestInit => ({
  ...init,
  headers: { authorization: `token ${token}`, 'content-type': 'application/json', ...init.headers }
});

/** Starts the server the way the CLI does, on `port` (0: any) and the given state folder. */
function start(site: SiteConfig, stateDir: string, port = 0): Promise<RunningProxyServer> {
  return startProxyServer({
    sites: [site],
    auth: new TokenAuthenticator(
      new Map([
        [ALICE, OWNER],
        [BOB, 'bob']
      ])
    ),
    port,
    stateDir,
    logger: createLogger('warn')
  });
}

async function listSessions(server: RunningProxyServer, token: string): Promise<Session[]> {
  const res = await fetch(`${server.url}/interlink/api/sessions`, as(token));
  assert.equal(res.status, 200);
  return (await res.json()) as Session[];
}

async function launch(server: RunningProxyServer, body: object): Promise<Session> {
  const res = await fetch(
    `${server.url}/interlink/api/sessions`,
    as(ALICE, { method: 'POST', body: JSON.stringify(body) })
  );
  assert.equal(res.status, 201, await res.clone().text());
  return (await res.json()) as Session;
}

/** Polls the API until `want` holds for the caller's sessions. */
async function until(
  server: RunningProxyServer,
  want: (sessions: Map<string, Session>) => boolean,
  what: string,
  timeoutMs = 30_000
): Promise<Map<string, Session>> {
  const deadline = Date.now() + timeoutMs;
  let last = new Map<string, Session>();
  while (Date.now() < deadline) {
    last = new Map((await listSessions(server, ALICE)).map(s => [s.id, s]));
    if (want(last)) return last;
    await new Promise(r => setTimeout(r, 200));
  }
  const states = [...last.values()].map(s => `${s.id}:${s.state}`).join(' ');
  throw new Error(`${what} within ${timeoutMs / 1000} s; last: ${states}`);
}

const sorted = (ids: Iterable<string>) => [...ids].sort();

describe('restart of the proxy server, kubernetes site (fake API server)', () => {
  const namespace = 'hpc';
  let fake: FakeApiServer;
  let scratch: string;
  let site: SiteConfig;
  let server: RunningProxyServer | undefined;
  let jupyter: Server;
  let agent: TunnelAgent | undefined;

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'interlink-restart-k8s-'));
    fake = await FakeApiServer.start();
    site = await leonardoOnFakeApi(fake, scratch, namespace);
    // Stands in for the remote Jupyter server the agent forwards to.
    jupyter = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ path: req.url }));
    });
    await new Promise<void>(r => jupyter.listen(0, '127.0.0.1', r));
  });

  after(async () => {
    await agent?.stop();
    await server?.close();
    await fake?.close();
    await new Promise(r => jupyter?.close(r));
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  const pods = () => fake.list('pods', namespace) as V1Pod[];
  const podOf = (id: string) => pods().find(p => p.metadata?.labels?.[LABELS.session] === id);
  const secretOf = (id: string) => {
    const secret = (fake.list('secrets', namespace) as V1Secret[]).find(
      s => s.metadata?.name === `${podName(id)}-secret`
    );
    return Buffer.from(secret?.data?.token ?? '', 'base64').toString('utf8');
  };
  const tunnelStatus = (id: string, secret: string) =>
    upgradeStatus(`${server!.url.replace(/^http/, 'ws')}/interlink/tunnel`, {
      authorization: `Bearer ${secret}`,
      [SESSION_HEADER]: id
    });

  it('re-adopts all 20 once, in the states the pods show, and lets their agents back in', async () => {
    server = await start(site, join(scratch, 'state'));
    const port = server.port;
    const ids: string[] = [];
    for (let i = 0; i < COUNT; i++) {
      const s = await launch(server, {
        site: 'leonardo',
        profile: 'a100',
        type: 'kernel',
        walltime: 3600
      });
      ids.push(s.id);
    }
    assert.equal(new Set(ids).size, COUNT);
    assert.deepEqual(sorted(pods().map(p => p.metadata!.labels![LABELS.session])), sorted(ids));

    // The virtual node starts the first four; the agent of the first one dials in.
    const running = ids.slice(0, 4);
    for (const id of running) {
      fake.setPodStatus(namespace, podName(id), { phase: 'Running', startTime: new Date() });
    }
    agent = new TunnelAgent({
      url: `ws://127.0.0.1:${port}/interlink/tunnel`,
      sessionId: ids[0],
      secret: secretOf(ids[0]),
      target: {
        host: '127.0.0.1',
        port: (jupyter.address() as AddressInfo).port,
        basePath: `/interlink/sessions/${ids[0]}/`
      },
      initialDelayMs: 100,
      maxDelayMs: 500
    });
    agent.start();
    const before = await until(
      server,
      m =>
        m.get(ids[0])?.state === 'ready' &&
        running.slice(1).every(id => m.get(id)?.state === 'starting') &&
        ids.slice(4).every(id => m.get(id)?.state === 'queued'),
      'the first session ready, three more starting, the rest queued on the virtual node'
    );
    await server.close();
    server = undefined;

    // While no server runs, one of the running jobs fails on the remote side.
    fake.setPodStatus(namespace, podName(ids[1]), terminatedAgent('Error', 3));

    server = await start(site, join(scratch, 'state'), port);
    const after = await listSessions(server, ALICE);
    assert.deepEqual(sorted(after.map(s => s.id)), sorted(ids), 'every session, each once');
    assert.deepEqual(await listSessions(server, BOB), [], 'none of them for another user');
    for (const s of after) {
      assert.equal(s.owner, OWNER);
      assert.equal(s.createdAt, before.get(s.id)!.createdAt);
      assert.equal(s.walltime, 3600);
      assert.equal(s.profile, 'a100');
    }
    const byId = await until(
      server,
      m => m.get(ids[0])?.state === 'ready',
      'the first session’s agent to reconnect'
    );
    assert.equal(byId.get(ids[1])?.state, 'failed');
    assert.match(byId.get(ids[1])?.reason ?? '', /^exit code 3/);
    // the others as they were: running without their agents yet, or queued
    for (const id of ids.slice(2)) assert.equal(byId.get(id)?.state, before.get(id)?.state, id);
    assert.equal(pods().length, COUNT, 'no pod created twice, none deleted');

    // Through the re-established tunnel to the session's server, for its owner.
    const remote = await fetch(`${server.url}/interlink/sessions/${ids[0]}/api/status`, as(ALICE));
    assert.equal(remote.status, 200);
    assert.deepEqual(await remote.json(), { path: `/interlink/sessions/${ids[0]}/api/status` });

    // The secret of a session (read back from its annotation's hash) opens its tunnel only.
    assert.equal(await tunnelStatus(ids[2], 'not-the-secret'), 403);
    assert.equal(await tunnelStatus(ids[2], secretOf(ids[3])), 403);
    assert.equal(await tunnelStatus(ids[1], secretOf(ids[1])), 403, 'an ended session');
    assert.equal(await tunnelStatus(ids[2], secretOf(ids[2])), 101);

    // A stop after the restart deletes the pod and nothing else.
    const stopped = await fetch(
      `${server.url}/interlink/api/sessions/${ids[3]}`,
      as(ALICE, { method: 'DELETE' })
    );
    assert.equal(stopped.status, 200);
    await until(server, m => m.get(ids[3])?.state === 'cancelled', 'the stopped session cancelled');
    const deadline = Date.now() + 10_000;
    while (podOf(ids[3]) && Date.now() < deadline) await new Promise(r => setTimeout(r, 50));
    assert.equal(podOf(ids[3]), undefined, 'its pod is deleted');
    assert.equal(pods().length, COUNT - 1);
  });
});

describe('restart of the proxy server, slurm site (local Slurm)', () => {
  let scratch: string;
  let site: SiteConfig;
  let server: RunningProxyServer | undefined;
  let env: NodeJS.ProcessEnv;
  const ids: string[] = [];

  before(async () => {
    execFileSync('bash', [join(REPO, 'scripts/slurm-local.sh'), 'start'], {
      stdio: 'ignore',
      timeout: 120_000
    });
    const conf = execFileSync('bash', [join(REPO, 'scripts/slurm-local.sh'), 'env'])
      .toString()
      .split('=')[1]
      .trim();
    env = { ...process.env, SLURM_CONF: conf };
    scratch = await mkdtemp(join(tmpdir(), 'interlink-restart-slurm-'));
    site = {
      id: 'cluster',
      displayName: 'Local Slurm',
      kind: 'hpc',
      driver: 'slurm',
      slurm: { conf },
      profiles: [
        {
          id: 'tiny',
          displayName: 'Tiny',
          resources: { cpu: 1, memory: '64Mi', gpu: 0 },
          maxWalltime: 3600
        }
      ]
    };
  });

  after(async () => {
    for (const id of ids) {
      await fetch(`${server?.url}/interlink/api/sessions/${id}`, as(ALICE, { method: 'DELETE' }));
    }
    await server?.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  /** Our jobs as Slurm lists them: session id → compact state, with how many jobs each has. */
  const jobs = (): Map<string, string[]> => {
    const out = execFileSync('squeue', ['-h', '-t', 'all', '-o', '%j|%t'], { env }).toString();
    const byId = new Map<string, string[]>();
    for (const line of out.split('\n')) {
      const [name, state] = line.trim().split('|');
      const id = ids.find(i => name === podName(i));
      if (id) byId.set(id, [...(byId.get(id) ?? []), state]);
    }
    return byId;
  };
  const expected = (state: string) => (state === 'R' ? 'ready' : state === 'PD' ? 'queued' : state);

  it('re-adopts all 20 jobs once, in the states squeue shows, and stops one with scancel', async () => {
    server = await start(site, join(scratch, 'state'));
    const port = server.port;
    for (let i = 0; i < COUNT; i++) {
      const s = await launch(server, {
        site: 'cluster',
        profile: 'tiny',
        type: 'job',
        walltime: 1800,
        command: ['/bin/sleep', '600']
      });
      ids.push(s.id);
    }
    // Two CPUs: some jobs run, the rest wait in the queue.
    await until(
      server,
      m => ids.every(id => ['ready', 'queued'].includes(m.get(id)?.state ?? '')),
      'every job running or queued'
    );
    await server.close();
    server = undefined;

    server = await start(site, join(scratch, 'state'), port);
    const after = await listSessions(server, ALICE);
    assert.deepEqual(sorted(after.map(s => s.id)), sorted(ids), 'every session, each once');
    assert.ok(after.every(s => s.owner === OWNER && s.type === 'job'));
    assert.deepEqual(await listSessions(server, BOB), []);

    const slurm = jobs();
    assert.deepEqual(sorted(slurm.keys()), sorted(ids));
    for (const [id, states] of slurm) {
      assert.equal(states.length, 1, `one job for ${id}: ${states.join(',')}`);
      assert.ok(['R', 'PD'].includes(states[0]), `${id} still running or queued: ${states[0]}`);
    }
    // What a user sees is what squeue shows (a queued job may start meanwhile: ask again).
    await until(
      server,
      m => {
        const now = jobs();
        return ids.every(id => m.get(id)?.state === expected(now.get(id)![0]));
      },
      'each session in the state squeue shows'
    );

    const stopped = await fetch(
      `${server.url}/interlink/api/sessions/${ids[0]}`,
      as(ALICE, { method: 'DELETE' })
    );
    assert.equal(stopped.status, 200);
    await until(server, m => m.get(ids[0])?.state === 'cancelled', 'the stopped session cancelled');
    const end = jobs();
    // cancelled, or still completing if it was running
    assert.match(end.get(ids[0])!.join(','), /^(CA|CG)$/, 'its job is cancelled in Slurm');
    for (const id of ids.slice(1)) {
      assert.ok(['R', 'PD'].includes(end.get(id)![0]), `${id} untouched: ${end.get(id)}`);
    }
  });
});

describe('restart of the proxy server, interlink site (real interLink API server)', () => {
  let scratch: string;
  let plugin: FakeHtcondorPlugin;
  let api: InterlinkApi;
  let site: SiteConfig;
  let server: RunningProxyServer | undefined;
  const ids: string[] = [];

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'interlink-restart-il-'));
    plugin = await FakeHtcondorPlugin.start(join(scratch, 'plugin.sock'));
    api = await InterlinkApi.start({ dir: join(scratch, 'api'), plugin: plugin.url });
    site = {
      id: 'htc',
      displayName: 'HTC farm',
      kind: 'htc',
      driver: 'interlink',
      namespace: 'interlink',
      nodeSelector: { 'kubernetes.io/hostname': 'htc-vk' },
      interlink: { url: api.url, statusPerPod: true },
      profiles: [
        {
          id: 'tiny',
          displayName: 'Tiny',
          resources: { cpu: 1, memory: '64Mi', gpu: 0 },
          maxWalltime: 3600
        }
      ]
    };
  });

  after(async () => {
    for (const id of ids) {
      await fetch(`${server?.url}/interlink/api/sessions/${id}`, as(ALICE, { method: 'DELETE' }));
    }
    await server?.close();
    await api?.stop();
    await plugin?.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it("a job's states reach the event stream in order; its log comes through getLogs", async () => {
    server = await start(site, join(scratch, 'state-events'));
    const events = readEvents(await fetch(`${server.url}/interlink/api/events`, as(ALICE)));
    const s = await launch(server, {
      site: 'htc',
      profile: 'tiny',
      type: 'job',
      walltime: 1800,
      command: ['/bin/true']
    });
    const states: string[] = [];
    const seen = (want: string) =>
      waitForEvent(
        events,
        e => {
          const session = e.data as Session;
          if (e.event !== 'session' || session?.id !== s.id) return false;
          if (states[states.length - 1] !== session.state) states.push(session.state);
          return session.state === want;
        },
        `state ${want}`
      );
    await seen('queued');
    plugin.setJob(podName(s.id), { JobStatus: 2 });
    await seen('ready');
    const logs = await fetch(`${server.url}/interlink/api/sessions/${s.id}/logs`, as(ALICE));
    assert.equal(logs.status, 200);
    assert.equal(await logs.text(), '"NOT IMPLEMENTED"', "the HTCondor plugin's own answer");
    plugin.setJob(podName(s.id), { JobStatus: 4, ExitCode: 0 });
    await seen('completed');
    assert.deepEqual(
      states.filter(x => x !== 'pending' && x !== 'submitting'),
      ['queued', 'ready', 'completed']
    );
    await events.return(undefined);
    await server.close();
    server = undefined;
  });

  it('re-adopts its jobs in the states interLink reports, one that ended meanwhile too', async () => {
    server = await start(site, join(scratch, 'state'));
    const port = server.port;
    for (let i = 0; i < 3; i++) {
      const s = await launch(server, {
        site: 'htc',
        profile: 'tiny',
        type: 'job',
        walltime: 1800,
        command: ['/bin/sleep', '600']
      });
      ids.push(s.id);
    }
    await until(server, m => ids.every(id => m.get(id)?.state === 'queued'), 'all queued');
    plugin.setJob(podName(ids[0]), { JobStatus: 2 });
    plugin.setJob(podName(ids[1]), { JobStatus: 2 });
    await until(
      server,
      m => m.get(ids[0])?.state === 'ready' && m.get(ids[1])?.state === 'ready',
      'two running'
    );
    await server.close();
    server = undefined;
    plugin.setJob(podName(ids[1]), { JobStatus: 4, ExitCode: 0 });

    server = await start(site, join(scratch, 'state'), port);
    const back = await listSessions(server, ALICE);
    assert.deepEqual(sorted(back.map(s => s.id)), sorted(ids), 'every session, each once');
    assert.deepEqual(await listSessions(server, BOB), []);
    await until(
      server,
      m =>
        m.get(ids[0])?.state === 'ready' &&
        m.get(ids[1])?.state === 'completed' &&
        m.get(ids[2])?.state === 'queued',
      'each in the state interLink reports'
    );
    const jid = plugin.jidOf(podName(ids[0]))!;
    const stopped = await fetch(
      `${server.url}/interlink/api/sessions/${ids[0]}`,
      as(ALICE, { method: 'DELETE' })
    );
    assert.equal(stopped.status, 200);
    await until(server, m => m.get(ids[0])?.state === 'cancelled', 'the stopped session cancelled');
    assert.equal(plugin.jobs.get(jid)?.JobStatus, 3, 'its job removed (condor_rm)');
    assert.equal(plugin.jobOf(podName(ids[2]))?.JobStatus, 1, 'the queued one untouched');
  });
});
