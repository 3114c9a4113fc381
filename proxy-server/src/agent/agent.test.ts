// The agent CLI as a remote job runs it, in front of Debian's real jupyter_server and ipykernel,
// behind a TunnelEndpoint.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startHarness, request, sha256Hex, type Harness } from '../testing/tunnel-harness.js';
import { KernelClient } from '../testing/kernel-client.js';

const CLI = fileURLToPath(new URL('./cli.js', import.meta.url));
const PYTHON = '/usr/bin/python3';
const haveJupyter =
  existsSync(PYTHON) &&
  spawnSync(PYTHON, ['-c', 'import jupyter_server, ipykernel'], {
    stdio: 'ignore',
    timeout: 20_000
  }).status === 0;

interface AgentProcess {
  child: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

function startAgent(env: Record<string, string>): AgentProcess {
  const child = spawn(process.execPath, [CLI], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: env.HOME ?? tmpdir(), ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  });
  const output: string[] = [];
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer): void => {
    output.push(...chunk.toString().split('\n').filter(Boolean));
    for (const l of listeners) l();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>(resolve => child.once('exit', code => resolve(code)));
  return {
    child,
    output,
    exited,
    waitFor(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const line = output.find(l => pattern.test(l));
          if (line === undefined) return false;
          clearTimeout(timer);
          listeners.delete(onLine);
          resolve(line);
          return true;
        };
        const onLine = (): void => void check();
        const timer = setTimeout(() => {
          listeners.delete(onLine);
          reject(new Error(`agent did not log ${pattern} in time; output:\n${output.join('\n')}`));
        }, timeoutMs);
        if (!check()) listeners.add(onLine);
      });
    }
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitGone(pid: number, timeoutMs = 15_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive(pid)) return true;
    await new Promise(r => setTimeout(r, 100));
  }
  return !alive(pid);
}

describe(
  'agent with a real Jupyter server',
  { skip: !haveJupyter && 'jupyter_server not installed', timeout: 180_000 },
  () => {
    const sessionId = 'real-1';
    const secret = randomBytes(32).toString('base64url');
    const big = randomBytes(32 * 1024 * 1024 + 5);
    let dir: string;
    let h: Harness;
    let agent: AgentProcess;
    let kernelId: string;
    const wsUrl = (rest: string): string => h.sessionUrl(sessionId, rest).replace('http:', 'ws:');

    before(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'interlink-agent-test-'));
      const work = path.join(dir, 'work');
      mkdirSync(work);
      writeFileSync(path.join(work, 'big.bin'), big);
      writeFileSync(path.join(dir, 'secret'), `${secret}\n`, { mode: 0o600 });
      h = await startHarness();
      h.secrets.set(sessionId, secret);
      agent = startAgent({
        HOME: dir,
        JUPYTER_CONFIG_DIR: path.join(dir, 'jupyter-config'),
        JUPYTER_DATA_DIR: path.join(dir, 'jupyter-data'),
        JUPYTER_RUNTIME_DIR: path.join(dir, 'jupyter-runtime'),
        IPYTHONDIR: path.join(dir, 'ipython'),
        INTERLINK_SESSION_ID: sessionId,
        INTERLINK_TUNNEL_URL: h.tunnelUrl,
        INTERLINK_SECRET_FILE: path.join(dir, 'secret'),
        INTERLINK_BASE_URL: `/interlink/sessions/${sessionId}/`,
        INTERLINK_NOTEBOOK_DIR: work,
        INTERLINK_RECONNECT_INITIAL_MS: '200',
        INTERLINK_RECONNECT_MAX_MS: '1000'
      });
      await h.waitUp(sessionId, 90_000);
    });

    after(async () => {
      if (agent.child.exitCode === null) {
        agent.child.kill('SIGTERM');
        await agent.exited;
      }
      await h.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('logs its progress for the job log', async () => {
      await agent.waitFor(/starting Jupyter server/);
      await agent.waitFor(/Jupyter server ready on 127\.0\.0\.1:\d+/);
      await agent.waitFor(/tunnel connected/);
    });

    it('serves the remote Jupyter REST API through the tunnel', async () => {
      const res = await request(h.sessionUrl(sessionId, 'api/status'));
      assert.equal(res.status, 200);
      const status = JSON.parse(res.body.toString()) as { started: string };
      assert.ok(status.started);
    });

    it('downloads a large binary file intact', async () => {
      const res = await request(h.sessionUrl(sessionId, 'files/big.bin'));
      assert.equal(res.status, 200);
      assert.equal(res.body.length, big.length);
      assert.equal(sha256Hex(res.body), sha256Hex(big));
    });

    it('carries request bodies intact (save a file, read it back)', async () => {
      const content = randomBytes(1024 * 1024).toString('base64');
      const put = await request(
        h.sessionUrl(sessionId, 'api/contents/saved.txt'),
        { method: 'PUT', headers: { 'Content-Type': 'application/json' } },
        JSON.stringify({ type: 'file', format: 'text', content })
      );
      assert.ok(put.status === 200 || put.status === 201, `PUT answered ${put.status}`);
      const back = await request(h.sessionUrl(sessionId, 'files/saved.txt'));
      assert.equal(back.body.toString(), content);
    });

    it('runs code on a kernel over its WebSocket through the tunnel', async () => {
      const created = await request(
        h.sessionUrl(sessionId, 'api/kernels'),
        { method: 'POST', headers: { 'Content-Type': 'application/json', Cookie: 'hub=1' } },
        JSON.stringify({ name: 'python3' })
      );
      assert.equal(created.status, 201, created.body.toString());
      kernelId = (JSON.parse(created.body.toString()) as { id: string }).id;
      const kernel = await KernelClient.connect(wsUrl(`api/kernels/${kernelId}/channels`), {
        Origin: 'https://hub.example.org',
        Authorization: 'token browser-credential'
      });
      const result = await kernel.execute('x = 41\nprint(x + 1)');
      assert.equal(result.status, 'ok');
      assert.equal(result.stdout, '42\n');
      kernel.close();
    });

    it('survives a dropped tunnel: the agent reconnects and the same kernel still answers', async () => {
      const kernel = await KernelClient.connect(wsUrl(`api/kernels/${kernelId}/channels`));
      const kernelClosed = new Promise<void>(resolve => kernel.ws.once('close', () => resolve()));
      const down = new Promise<void>(resolve =>
        h.endpoint.on('down', id => id === sessionId && resolve())
      );
      assert.ok(h.cut(sessionId) >= 1);
      await down;
      await kernelClosed;
      await h.waitUp(sessionId, 30_000);
      await agent.waitFor(/tunnel lost .*retrying in \d+\.\ds/);
      const again = await KernelClient.connect(wsUrl(`api/kernels/${kernelId}/channels`));
      const result = await again.execute('print(x + 1)');
      assert.equal(result.stdout, '42\n', 'the kernel kept its state across the drop');
      again.close();
      const listed = await request(h.sessionUrl(sessionId, `api/kernels/${kernelId}`));
      assert.equal(listed.status, 200);
      const connections = await h.registry
        .getSingleMetric('interlink_tunnel_connections_total')!
        .get();
      assert.deepEqual(
        connections.values.map(v => [v.labels.transport, v.value]),
        [['raw', 2]],
        'both connections ran HTTP/2 directly on the socket'
      );
    });

    it('never prints the secret or a token in its log', () => {
      const log = agent.output.join('\n');
      assert.ok(!log.includes(secret));
      for (const m of log.matchAll(/token=(\S*)/g)) assert.match(m[1], /^\[redacted\]/);
    });

    it('stops with its Jupyter server and kernels when the session is revoked', async () => {
      const kernel = await KernelClient.connect(wsUrl(`api/kernels/${kernelId}/channels`));
      const pids = await kernel.execute('import os\nprint(os.getpid(), os.getppid())');
      kernel.close();
      const [kernelPid, serverPid] = pids.stdout.trim().split(' ').map(Number);
      assert.ok(alive(kernelPid) && alive(serverPid));
      h.endpoint.revoke(sessionId);
      assert.equal(await agent.exited, 0);
      assert.ok(await waitGone(serverPid), 'the Jupyter server is gone');
      assert.ok(await waitGone(kernelPid), 'the kernel is gone');
    });
  }
);

// A stand-in server for the lifecycle cases: answers api/status, writes its pid, can die on cue.
const FAKE_SERVER = `
const http = require('http');
const fs = require('fs');
const arg = (name) => process.argv.find((a) => a.startsWith('--ServerApp.' + name + '='))?.split('=')[1];
const base = arg('base_url');
fs.writeFileSync(process.env.PID_FILE, String(process.pid));
http.createServer((req, res) => {
  const ok = req.headers.authorization === 'token ' + process.env.JUPYTER_TOKEN;
  res.writeHead(ok && req.url === base + 'api/status' ? 200 : 403).end('{}');
}).listen(Number(arg('port')), arg('ip'));
console.log('serving at http://127.0.0.1:' + arg('port') + base + '?token=' + process.env.JUPYTER_TOKEN);
if (process.env.DIE_AFTER_MS) setTimeout(() => process.exit(7), Number(process.env.DIE_AFTER_MS));
`;

describe('agent lifecycle', { timeout: 60_000 }, () => {
  let dir: string;
  let h: Harness;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'interlink-agent-life-'));
    writeFileSync(path.join(dir, 'server.cjs'), FAKE_SERVER);
    h = await startHarness();
  });
  after(async () => {
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const envFor = (
    sessionId: string,
    extra: Record<string, string> = {}
  ): Record<string, string> => {
    const secret = randomBytes(16).toString('hex');
    h.secrets.set(sessionId, secret);
    return {
      INTERLINK_SESSION_ID: sessionId,
      INTERLINK_TUNNEL_URL: h.tunnelUrl,
      INTERLINK_SECRET: secret,
      INTERLINK_BASE_URL: `/interlink/sessions/${sessionId}/`,
      INTERLINK_JUPYTER_COMMAND: JSON.stringify([process.execPath, path.join(dir, 'server.cjs')]),
      INTERLINK_NOTEBOOK_DIR: dir,
      PID_FILE: path.join(dir, `${sessionId}.pid`),
      ...extra
    };
  };

  it('exits cleanly on SIGTERM and stops its server', async () => {
    const agent = startAgent(envFor('life-term'));
    await h.waitUp('life-term');
    const serverPid = Number(readFileSync(path.join(dir, 'life-term.pid'), 'utf8'));
    const log = agent.output.join('\n');
    assert.ok(!/token=(?!\[redacted\])/.test(log), 'the server’s token is redacted');
    agent.child.kill('SIGTERM');
    assert.equal(await agent.exited, 0);
    assert.ok(await waitGone(serverPid));
  });

  it('exits with an error when its server dies', async () => {
    const agent = startAgent(envFor('life-die', { DIE_AFTER_MS: '1500' }));
    await h.waitUp('life-die');
    assert.equal(await agent.exited, 7);
    await agent.waitFor(/the Jupyter server exited \(code 7\)/);
  });

  it('refuses a plain ws:// tunnel URL to another host before starting anything', async () => {
    const agent = startAgent({
      ...envFor('life-plain'),
      INTERLINK_TUNNEL_URL: 'ws://hub.example.org/interlink/tunnel'
    });
    assert.equal(await agent.exited, 2);
    await agent.waitFor(
      /INTERLINK_TUNNEL_URL: the tunnel URL is plain ws:\/\/ to hub\.example\.org.*in clear/
    );
    assert.ok(!agent.output.some(l => /starting Jupyter server/.test(l)));
  });

  it('refuses to start without its configuration, naming what is missing', async () => {
    const agent = startAgent({ INTERLINK_SESSION_ID: 'x' });
    assert.equal(await agent.exited, 2);
    await agent.waitFor(/INTERLINK_TUNNEL_URL is not set/);
  });

  it('gives up when the proxy keeps refusing its secret', async () => {
    const env = envFor('life-bad');
    h.secrets.set('life-bad', 'something-else');
    const agent = startAgent({
      ...env,
      INTERLINK_RECONNECT_INITIAL_MS: '50',
      INTERLINK_RECONNECT_MAX_MS: '100'
    });
    assert.equal(await agent.exited, 3);
    await agent.waitFor(/refused this session's secret/);
  });
});
