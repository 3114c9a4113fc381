/**
 * The interlink driver against interLink's real API server (built from the Go module proxy by
 * scripts/interlink-stack.sh), with interLink's HTCondor plugin behind it as handles.py answers.
 * Fails, never skips, when the API server cannot be built.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SiteHealth } from '@jupyterlab-interlink/contract';
import { InterlinkDriver } from './interlink.js';
import { FakeHtcondorPlugin } from '../testing/fake-htcondor-plugin.js';
import { freePort, InterlinkApi } from '../testing/interlink-api.js';
import { launch, readAll, recordStatuses, testSite } from '../testing/fixtures.js';
import type { BackendStatus, SiteConfig } from '../types.js';

let dir: string;
let plugin: FakeHtcondorPlugin;
let api: InterlinkApi;
let site: SiteConfig;
const drivers: InterlinkDriver[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'interlink-api-'));
  plugin = await FakeHtcondorPlugin.start(join(dir, 'plugin.sock'));
  api = await InterlinkApi.start({ dir: join(dir, 'api'), plugin: plugin.url });
  site = testSite({
    id: 'infn-htc',
    kind: 'htc',
    driver: 'interlink',
    namespace: 'interlink',
    interlink: {
      url: api.url,
      token: 'a-token-for-whoever-stands-in-front',
      statusPerPod: true
    }
  });
});

after(async () => {
  for (const d of drivers) await d.close();
  await api?.stop();
  await plugin?.close();
  await rm(dir, { recursive: true, force: true });
});

function newDriver(s = site, stateDir = join(dir, 'state')): InterlinkDriver {
  const d = new InterlinkDriver(s, { pollIntervalMs: 200, stateDir });
  drivers.push(d);
  return d;
}

async function until<T>(what: string, f: () => T | undefined, ms = 15000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise(r => setTimeout(r, 50));
  }
}

const phases = (seen: BackendStatus[]) =>
  seen.map(s => s.phase).filter((p, i, a) => p !== a[i - 1]);
const lastOf = <T>(seen: T[]): T => seen[seen.length - 1];

async function started(d: InterlinkDriver) {
  const l = launch(site, ['/bin/true']);
  const seen = recordStatuses(d, l.spec.sessionId);
  await d.create(l.bundle);
  const pod = l.bundle.pod.metadata!.name!;
  return { id: l.spec.sessionId, pod, seen };
}

test('real interLink: a session follows its job for its whole life (queued → running → completed)', async () => {
  const d = newDriver();
  await d.start();
  const s = await started(d);
  // interLink answered 201 from the plugin as "call exit status: 500. Body: …": still a job
  assert.equal(plugin.jidOf(s.pod) !== undefined, true);
  await until('queued', () => lastOf(s.seen)?.phase === 'queued');
  assert.equal(lastOf(s.seen).queue?.reason, 'ContainerCreating');
  assert.equal(lastOf(s.seen).backendId, plugin.jidOf(s.pod));
  plugin.setJob(s.pod, { JobStatus: 2 });
  // interLink answers from its cache unless the pod comes with phase Pending or Running
  await until('running', () => lastOf(s.seen)?.phase === 'running');
  plugin.setJob(s.pod, { JobStatus: 4, ExitCode: 0 });
  await until('succeeded', () => lastOf(s.seen)?.phase === 'succeeded');
  assert.deepEqual(phases(s.seen), ['pending', 'queued', 'running', 'succeeded']);
  await d.delete(s.id);
});

test('real interLink: a job that fails ends failed with its reason in words; a held job says why', async () => {
  const d = newDriver();
  await d.start();
  const failing = await started(d);
  const held = await started(d);
  plugin.setJob(held.pod, { JobStatus: 5, HoldReason: 'Error from slot1: disk quota exceeded' });
  plugin.setJob(failing.pod, { JobStatus: 2 });
  await until('running', () => lastOf(failing.seen)?.phase === 'running');
  plugin.setJob(failing.pod, { JobStatus: 4, ExitCode: 3 });
  const end = await until('failed', () =>
    lastOf(failing.seen)?.phase === 'failed' ? lastOf(failing.seen) : undefined
  );
  assert.equal(end.reason, 'exit code 3');
  assert.equal(end.exitCode, 3);
  // two pods on a plugin that answers one per /status call: the second is asked on its own
  await until(
    'held',
    () => lastOf(held.seen)?.queue?.reason === 'Error from slot1: disk quota exceeded'
  );
  // removed behind our back (condor_rm): no exit code, the reason in words
  plugin.setJob(held.pod, { JobStatus: 3 });
  const removed = await until('removed', () =>
    lastOf(held.seen)?.phase === 'failed' ? lastOf(held.seen) : undefined
  );
  assert.equal(removed.reason, 'Cancelled');
  await d.delete(failing.id);
  await d.delete(held.id);
});

test('real interLink: Stop removes the job and the plugin keeps nothing of it', async () => {
  const d = newDriver();
  await d.start();
  const s = await started(d);
  plugin.setJob(s.pod, { JobStatus: 2 });
  await until('running', () => lastOf(s.seen)?.phase === 'running');
  const jid = plugin.jidOf(s.pod)!;
  await d.delete(s.id);
  assert.equal(plugin.jobs.get(jid)?.JobStatus, 3, 'condor_rm marked the job for removal');
  assert.equal(plugin.jidOf(s.pod), undefined, 'the job file is gone');
  assert.equal(lastOf(s.seen).phase, 'gone');
  assert.ok(plugin.calls.some(c => c.path === '/delete' && c.method === 'POST'));
});

test('real interLink: a plugin outage neither ends nor evicts a running session', async () => {
  const d = newDriver();
  await d.start();
  const health: SiteHealth[] = [];
  d.on('health', h => health.push(h));
  const s = await started(d);
  plugin.setJob(s.pod, { JobStatus: 2 });
  await until('running', () => lastOf(s.seen)?.phase === 'running');
  await plugin.close();
  await until('degraded', () => health.find(h => h.status === 'degraded'));
  const polls = d.stats.polls;
  await until('five polls into the outage', () => d.stats.polls >= polls + 5);
  assert.equal(lastOf(s.seen).phase, 'running');
  await plugin.listen();
  await until('ok again', () => lastOf(health)?.status === 'ok');
  plugin.setJob(s.pod, { JobStatus: 4, ExitCode: 0 });
  await until('succeeded after the outage', () => lastOf(s.seen)?.phase === 'succeeded');
  await d.delete(s.id);
});

test('real interLink: an interLink restart neither ends a session; a driver restart re-adopts it', async () => {
  const stateDir = join(dir, 'state-restart');
  const d1 = newDriver(site, stateDir);
  await d1.start();
  const s = await started(d1);
  plugin.setJob(s.pod, { JobStatus: 2 });
  await until('running', () => lastOf(s.seen)?.phase === 'running');
  await d1.close();
  await api.restart(); // its cache is gone: it asks the plugin again
  const d2 = newDriver(site, stateDir);
  const adopted = await d2.start();
  const mine = adopted.find(o => o.sessionId === s.id);
  assert.equal(mine?.status.phase, 'running');
  assert.equal(mine?.status.backendId, plugin.jidOf(s.pod));
  await d2.delete(s.id);
});

test("real interLink: the job's log comes through interLink's getLogs as the plugin answers it", async () => {
  const d = newDriver();
  await d.start();
  const s = await started(d);
  const text = await readAll(await d.logs(s.id));
  assert.equal(text, '"NOT IMPLEMENTED"');
  await d.delete(s.id);
});

test('real interLink: health from the ping; 503 while the plugin is not ready', async () => {
  const d = newDriver();
  assert.equal((await d.health()).status, 'ok');
  plugin.proxyFileExists = false;
  try {
    const h = await d.health();
    assert.equal(h.status, 'down');
    assert.match(h.message ?? '', /proxy file not available/);
  } finally {
    plugin.proxyFileExists = true;
  }
});

/** A CA, interLink's server certificate for 127.0.0.1 and a client certificate, by openssl. */
function certificates(at: string) {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: at, stdio: 'pipe' });
  ssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=test CA',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt'
  );
  for (const [name, ext] of [
    ['server', 'subjectAltName=IP:127.0.0.1'],
    ['client', 'extendedKeyUsage=clientAuth']
  ]) {
    ssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`
    );
    execFileSync(
      'bash',
      [
        '-c',
        `openssl x509 -req -in ${name}.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 ` +
          `-out ${name}.crt -extfile <(echo '${ext}')`
      ],
      { cwd: at, stdio: 'pipe' }
    );
  }
  const f = (n: string) => join(at, n);
  return {
    ca: f('ca.crt'),
    serverCert: f('server.crt'),
    serverKey: f('server.key'),
    clientCert: f('client.crt'),
    clientKey: f('client.key')
  };
}

test('real interLink over https: a CA file, client certificates (mTLS), the insecure switch', async () => {
  const at = await mkdtemp(join(dir, 'tls-'));
  const c = certificates(at);
  const tlsApi = await InterlinkApi.start({
    dir: join(at, 'api'),
    plugin: plugin.url,
    listen: `https://127.0.0.1:${await freePort()}`,
    tls: { certFile: c.serverCert, keyFile: c.serverKey, clientCaFile: c.ca }
  });
  try {
    const on = (il: Partial<NonNullable<SiteConfig['interlink']>>) =>
      newDriver({ ...site, interlink: { url: tlsApi.url, ...il } }, join(at, 'state'));
    const mtls = on({ caFile: c.ca, certFile: c.clientCert, keyFile: c.clientKey });
    await mtls.start();
    const s = await started(mtls);
    plugin.setJob(s.pod, { JobStatus: 2 });
    await until('running over mTLS', () => lastOf(s.seen)?.phase === 'running');
    await mtls.delete(s.id);
    assert.equal(
      (await on({ insecure: true, certFile: c.clientCert, keyFile: c.clientKey }).health()).status,
      'ok'
    );
    const noCa = await on({ certFile: c.clientCert, keyFile: c.clientKey }).health();
    assert.equal(noCa.status, 'down');
    assert.match(noCa.message ?? '', /self[- ]signed|unable to (get|verify)/i);
    const noClientCert = await on({ caFile: c.ca }).health();
    assert.equal(noClientCert.status, 'down');
  } finally {
    await tlsApi.stop();
  }
});

test('interlink url and TLS fields: a clear error naming the field', () => {
  const bad = (il: NonNullable<SiteConfig['interlink']>, re: RegExp) =>
    assert.throws(() => new InterlinkDriver({ ...site, interlink: il }), re);
  bad({ url: 'unix://relative.sock' }, /interlink\.url: unix:\/\/ needs an absolute path/);
  bad({ url: 'ftp://x' }, /interlink\.url: unix:\/\/\/path, https:\/\/… or http:\/\/…/);
  bad({ url: 'http://127.0.0.1:1', caFile: '/x' }, /interlink\.caFile needs an https:\/\/ url/);
  bad({ url: 'https://127.0.0.1:1', certFile: '/x' }, /certFile and keyFile go together/);
  bad({ url: 'https://127.0.0.1:1', caFile: '/does/not/exist' }, /interlink\.caFile: ENOENT/);
});
