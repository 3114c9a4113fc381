import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalDriver } from './local.js';
import { isAlive, readStat } from '../procs.js';
import {
  launch,
  PYTHON,
  readAll,
  readUntil,
  recordStatuses,
  testSite,
  waitForStatus
} from '../testing/fixtures.js';

let dir: string;
let driver: LocalDriver;
const site = testSite();

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'local-driver-'));
  driver = new LocalDriver(site, { stateDir: join(dir, 'state'), killGraceMs: 1000 });
  assert.deepEqual(await driver.start(), []);
});

after(async () => {
  await driver.close();
  await rm(dir, { recursive: true, force: true });
});

test('local: pending → running → succeeded, logs kept, health ok', async () => {
  const { bundle, spec } = launch(site, [
    PYTHON,
    '-c',
    'import os; print("hello", os.environ["INTERLINK_SESSION_ID"])'
  ]);
  const seen = recordStatuses(driver, spec.sessionId);
  const done = waitForStatus(driver, spec.sessionId, s => s.phase === 'succeeded');
  await driver.create(bundle);
  const final = await done;
  assert.equal(final.exitCode, 0);
  assert.deepEqual(
    seen.map(s => s.phase),
    ['pending', 'running', 'succeeded']
  );
  assert.equal(await readAll(await driver.logs(spec.sessionId)), `hello ${spec.sessionId}\n`);
  assert.equal((await driver.health()).status, 'ok');
  await assert.rejects(driver.create(bundle), /already exists/);
  await driver.delete(spec.sessionId);
  await driver.delete(spec.sessionId);
  assert.equal(seen.at(-1)!.phase, 'gone');
});

test('local: a command that exits 1 fails with the exit code and its last words as reason', async () => {
  const { bundle, spec } = launch(site, [PYTHON, '-c', 'import sys; print("bye"); sys.exit(1)']);
  const failed = waitForStatus(driver, spec.sessionId, s => s.phase === 'failed');
  await driver.create(bundle);
  const s = await failed;
  assert.equal(s.reason, 'exit code 1: bye');
  assert.equal(s.exitCode, 1);
  assert.equal(s.expired, undefined);
});

test('local: a command that cannot start fails with 127 and says why in the log', async () => {
  const { bundle, spec } = launch(site, ['/nonexistent/agent']);
  const failed = waitForStatus(driver, spec.sessionId, s => s.phase === 'failed');
  await driver.create(bundle);
  assert.equal(
    (await failed).reason,
    'exit code 127: container agent: cannot start /nonexistent/agent: no such executable'
  );
  assert.match(
    await readAll(await driver.logs(spec.sessionId)),
    /cannot start \/nonexistent\/agent/
  );
});

test('local: activeDeadlineSeconds ends the session as expired', async () => {
  const { bundle, spec } = launch(site, [PYTHON, '-c', 'import time; time.sleep(60)'], {
    walltime: 1
  });
  const failed = waitForStatus(driver, spec.sessionId, s => s.phase === 'failed');
  await driver.create(bundle);
  const s = await failed;
  assert.equal(s.expired, true);
  assert.equal(s.reason, 'DeadlineExceeded');
  assert.deepEqual(driver.processes(spec.sessionId), []);
});

test('local: secret volume materialised, env rewritten to it, never in env; workingDir honoured', async () => {
  const work = join(dir, 'work');
  await rm(work, { recursive: true, force: true });
  await import('node:fs/promises').then(fs => fs.mkdir(work));
  const script = `
import os, stat
p = os.environ["INTERLINK_SECRET_FILE"]
print("file", p)
print("secret", open(p).read())
print("mode", oct(stat.S_IMODE(os.stat(p).st_mode)))
print("cwd", os.getcwd())
print("env-has-secret", any(open(p).read() in v for v in os.environ.values()))
print("tunnel", os.environ["INTERLINK_TUNNEL_URL"])
`;
  const { bundle, spec, secret } = launch(site, [PYTHON, '-c', script]);
  bundle.pod.spec!.containers[0].workingDir = work;
  const done = waitForStatus(
    driver,
    spec.sessionId,
    s => s.phase === 'succeeded' || s.phase === 'failed'
  );
  await driver.create(bundle);
  assert.equal((await done).phase, 'succeeded');
  const out = await readAll(await driver.logs(spec.sessionId));
  const file = /file (.*)/.exec(out)![1];
  assert.ok(
    file.endsWith('/volumes/interlink-secret/token') && file.startsWith(join(dir, 'state')),
    file
  );
  assert.match(out, new RegExp(`secret ${secret}`));
  assert.match(out, /mode 0o400/);
  assert.match(out, new RegExp(`cwd ${work}`));
  assert.match(out, /env-has-secret False/);
  assert.match(out, /tunnel ws:\/\/127\.0\.0\.1:1\/interlink\/tunnel/);
  // a finished session keeps its log but not its secret
  assert.ok(!existsSync(file));
});

test('local: init containers run first, in order, sharing an emptyDir; a failing one fails the pod', async () => {
  const { bundle, spec } = launch(site, [PYTHON, '-c', 'print(open("/data/x").read())']);
  const podSpec = bundle.pod.spec!;
  podSpec.volumes!.push({ name: 'data', emptyDir: {} });
  podSpec.containers[0].volumeMounts!.push({ name: 'data', mountPath: '/data' });
  podSpec.containers[0].args = [];
  podSpec.initContainers = [
    {
      name: 'one',
      command: [PYTHON, '-c', 'open("/data/x","w").write("one;")'],
      volumeMounts: [{ name: 'data', mountPath: '/data' }]
    },
    {
      name: 'two',
      command: [PYTHON, '-c', 'open("/data/x","a").write("two")'],
      volumeMounts: [{ name: 'data', mountPath: '/data' }]
    }
  ];
  // paths in command lines inside a mount are rewritten too
  podSpec.containers[0].command = [
    PYTHON,
    '-c',
    'import sys; print(open(sys.argv[1]).read())',
    '/data/x'
  ];
  podSpec.initContainers[0].command = [
    PYTHON,
    '-c',
    'import sys; open(sys.argv[1],"w").write("one;")',
    '/data/x'
  ];
  podSpec.initContainers[1].command = [
    PYTHON,
    '-c',
    'import sys; open(sys.argv[1],"a").write("two")',
    '/data/x'
  ];
  const done = waitForStatus(
    driver,
    spec.sessionId,
    s => s.phase === 'succeeded' || s.phase === 'failed'
  );
  await driver.create(bundle);
  assert.equal((await done).phase, 'succeeded');
  assert.equal(await readAll(await driver.logs(spec.sessionId)), 'one;two\n');

  const bad = launch(site, [PYTHON, '-c', 'print("never")']);
  bad.bundle.pod.spec!.initContainers = [
    { name: 'setup', command: [PYTHON, '-c', 'raise SystemExit(3)'] }
  ];
  const failed = waitForStatus(driver, bad.spec.sessionId, s => s.phase === 'failed');
  await driver.create(bad.bundle);
  assert.equal((await failed).reason, 'init container setup: exit code 3');
  assert.equal(await readAll(await driver.logs(bad.spec.sessionId)), '');
});

test('local: logs follow while running and end when the process ends; tail gives the last lines', async () => {
  const { bundle, spec } = launch(site, [
    PYTHON,
    '-u',
    '-c',
    'import time\nfor i in range(5): print("line", i)\nprint("wait", flush=True)\nimport sys; sys.stdin = None\ntime.sleep(0.8)\nprint("end")'
  ]);
  await driver.create(bundle);
  const follow = await driver.logs(spec.sessionId, { follow: true });
  await readUntil(follow, 'wait');
  follow.resume();
  const rest = await readAll(follow);
  assert.match(rest, /end\n$/);
  const tail = await readAll(await driver.logs(spec.sessionId, { tail: 2 }));
  assert.equal(tail, 'wait\nend\n');
});

test('local: stopping a session ends every process: Jupyter server, kernel, escaped daemons', async () => {
  const agent = `
import json, os, socket, subprocess, sys, time, urllib.request
os.environ["JUPYTER_RUNTIME_DIR"] = os.path.join(os.getcwd(), "runtime")
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
srv = subprocess.Popen([sys.executable, "-m", "jupyter_server", "--ip=127.0.0.1", f"--port={port}",
    "--ServerApp.token=", "--ServerApp.password=", "--allow-root", "--no-browser",
    "--ServerApp.disable_check_xsrf=True", "--log-level=WARN"])
for _ in range(300):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status"); break
    except Exception:
        time.sleep(0.1)
req = urllib.request.Request(f"http://127.0.0.1:{port}/api/kernels", data=b"{}", method="POST",
    headers={"Content-Type": "application/json"})
kernel = json.load(urllib.request.urlopen(req))
# a daemon that leaves the process tree: its parent exits, it has its own session
subprocess.run(["/bin/sh", "-c", "setsid /bin/sleep 300 >/dev/null 2>&1 &"])
print("READY", kernel["id"], flush=True)
srv.wait()
`;
  const { bundle, spec } = launch(site, [PYTHON, '-u', '-c', agent]);
  await driver.create(bundle);
  const follow = await driver.logs(spec.sessionId, { follow: true });
  await readUntil(follow, 'READY', 30000);
  follow.destroy();
  // the kernel may take a moment to exec; wait until some process runs ipykernel
  let pids: number[] = [];
  const cmdline = (pid: number) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
    } catch {
      return '';
    }
  };
  for (let i = 0; i < 100; i++) {
    pids = driver.processes(spec.sessionId);
    if (
      pids.some(p => /ipykernel/.test(cmdline(p))) &&
      pids.some(p => /sleep 300/.test(cmdline(p)))
    )
      break;
    await new Promise(r => setTimeout(r, 100));
  }
  const lines = pids.map(cmdline);
  assert.ok(
    lines.some(l => /jupyter_server/.test(l)),
    lines.join('\n')
  );
  assert.ok(
    lines.some(l => /ipykernel/.test(l)),
    lines.join('\n')
  );
  assert.ok(
    lines.some(l => /sleep 300/.test(l)),
    lines.join('\n')
  );
  const sessions = new Set(pids.map(p => readStat(p)!.sid));
  assert.ok(sessions.size >= 2, 'kernel and daemon run in sessions of their own');

  const gone = waitForStatus(driver, spec.sessionId, s => s.phase === 'gone');
  await driver.delete(spec.sessionId);
  await gone;
  const alive = pids.filter(isAlive);
  assert.deepEqual(
    alive.map(p => `${p} ${readStat(p)?.state} ${cmdline(p)}`),
    [],
    'no process of the stopped session is left (zombies count as gone)'
  );
});

test(
  'local: bubblewrap isolation when asked for and installed',
  { skip: !existsSync('/usr/bin/bwrap') },
  async () => {
    const isolated = new LocalDriver(
      testSite({ id: 'isolated', local: { isolation: 'bubblewrap' } }),
      {
        stateDir: join(dir, 'isolated'),
        killGraceMs: 500
      }
    );
    await isolated.start();
    try {
      const script =
        'import os; print("pid", os.getpid()); print(open(os.environ["INTERLINK_SECRET_FILE"]).read()); open("/usr/x","w")';
      const { bundle, spec, secret } = launch(testSite({ id: 'isolated' }), [PYTHON, '-c', script]);
      const done = waitForStatus(
        isolated,
        spec.sessionId,
        s => s.phase === 'failed' || s.phase === 'succeeded'
      );
      await isolated.create(bundle);
      const s = await done;
      const out = await readAll(await isolated.logs(spec.sessionId));
      assert.match(out, /pid [0-9]\n/, 'own pid namespace');
      assert.ok(out.includes(secret));
      assert.match(out, /Read-only file system/);
      assert.equal(s.phase, 'failed');
    } finally {
      await isolated.close();
    }
  }
);

test('local: a restarted server re-adopts running sessions, their deadline, and how ended ones ended', async () => {
  const stateDir = join(dir, 'restart');
  const first = new LocalDriver(site, { stateDir, killGraceMs: 500, keepOnClose: true });
  await first.start();
  const long = launch(site, [PYTHON, '-c', 'import time; print("up", flush=True); time.sleep(60)']);
  const short = launch(site, [PYTHON, '-c', 'import time; time.sleep(60)'], { walltime: 3 });
  const quick = launch(site, [PYTHON, '-c', 'import time; time.sleep(0.3); raise SystemExit(3)']);
  const stopped = launch(site, [PYTHON, '-c', 'import time; time.sleep(60)']);
  for (const l of [long, short, quick, stopped]) await first.create(l.bundle);
  await readUntil(await first.logs(long.spec.sessionId, { follow: true }), 'up');
  // stopped by its user before the restart: not to come back after it
  await first.delete(stopped.spec.sessionId);
  const pids = first.processes(long.spec.sessionId);
  await first.close();
  // the server is down: the sessions go on, one of them ends
  await new Promise(r => setTimeout(r, 800));
  assert.ok(pids.some(isAlive));

  const second = new LocalDriver(site, { stateDir, killGraceMs: 500 });
  try {
    const adopted = await second.start();
    const byId = new Map(adopted.map(a => [a.sessionId, a.status]));
    assert.equal(adopted.length, 3, 'the stopped session is not re-adopted');
    assert.equal(byId.get(stopped.spec.sessionId), undefined);
    assert.equal(byId.get(long.spec.sessionId)?.phase, 'running');
    assert.equal(byId.get(short.spec.sessionId)?.phase, 'running');
    assert.deepEqual(
      [byId.get(quick.spec.sessionId)?.phase, byId.get(quick.spec.sessionId)?.reason],
      ['failed', 'exit code 3']
    );
    const expired = await waitForStatus(
      second,
      short.spec.sessionId,
      s => s.phase === 'failed',
      10000
    );
    assert.deepEqual([expired.reason, expired.expired], ['DeadlineExceeded', true]);
    assert.match(await readAll(await second.logs(long.spec.sessionId)), /^up\n/);
    const gone = waitForStatus(second, long.spec.sessionId, s => s.phase === 'gone');
    await second.delete(long.spec.sessionId);
    await gone;
    assert.deepEqual(pids.filter(isAlive), []);
  } finally {
    await second.close();
  }
  assert.ok(!existsSync(stateDir));
  await writeFile(join(dir, 'ok'), '');
  assert.ok(statSync(join(dir, 'ok')).isFile());
});
