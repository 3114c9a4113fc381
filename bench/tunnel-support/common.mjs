import { setTimeout as sleep } from 'node:timers/promises';
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { URL, fileURLToPath } from 'node:url';
import { KernelClient } from '../../proxy-server/dist/testing/kernel-client.js';

const here = p => fileURLToPath(new URL(p, import.meta.url));

function nextMessage(child, type) {
  return new Promise((resolve, reject) => {
    const onExit = code => reject(new Error(`child exited (${code}) before "${type}"`));
    const onMessage = msg => {
      if (msg.type !== type) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(msg);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

// BENCH_PROFILE=dir writes CPU profiles of the endpoint and agent processes there.
const profile = process.env.BENCH_PROFILE
  ? ['--cpu-prof', '--cpu-prof-interval=100', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`]
  : [];

// Children die with the bench, however it ends.
const children = new Set();
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

export async function startEndpoint(execArgv = []) {
  const child = fork(here('./endpoint-process.mjs'), {
    execArgv: [...profile, ...execArgv],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  });
  children.add(child);
  const ready = await nextMessage(child, 'ready');
  const upSeen = new Set();
  child.on('message', msg => {
    if (msg.type === 'up') upSeen.add(msg.id);
  });
  return {
    child,
    port: ready.port,
    tunnelUrl: ready.tunnelUrl,
    url: (id, rest = '') => `http://127.0.0.1:${ready.port}/interlink/sessions/${id}/${rest}`,
    async addSecrets(secrets) {
      child.send({ type: 'secret', secrets });
      await nextMessage(child, 'ok');
    },
    async waitUp(ids, timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      let last = 0;
      while (ids.some(id => !upSeen.has(id))) {
        if (Date.now() - last > 5000 && ids.length > 100) {
          last = Date.now();
          console.error(`${upSeen.size}/${ids.length} tunnels up`);
        }
        if (Date.now() > deadline)
          throw new Error(`tunnels not up: ${ids.filter(id => !upSeen.has(id)).length}`);
        await sleep(50);
      }
    },
    /** CPU seconds (user + system) the process has used so far. */
    async cpuSeconds() {
      child.send({ type: 'cpu' });
      const { usage } = await nextMessage(child, 'cpu');
      return (usage.user + usage.system) / 1e6;
    },
    async memory(ids) {
      child.send({ type: 'memory', ids });
      return nextMessage(child, 'memory');
    },
    async stop() {
      child.send({ type: 'exit' });
      await new Promise(r => child.once('exit', r));
    }
  };
}

/** Agents (in one process) for the given session ids, forwarding to target. */
export function startAgents(tunnelUrl, sessions, target, { transport } = {}) {
  const child = fork(here('./agent-process.mjs'), {
    execArgv: profile,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  });
  children.add(child);
  child.send({ type: 'start', tunnelUrl, target, sessions, transport });
  return {
    child,
    async cpuSeconds() {
      child.send({ type: 'cpu' });
      const { usage } = await nextMessage(child, 'cpu');
      return (usage.user + usage.system) / 1e6;
    },
    async stop() {
      child.send({ type: 'exit' });
      await new Promise(r => child.once('exit', r));
    }
  };
}

/**
 * A proxy process and an agent process per transport (the direct one, and the WebSocket fallback
 * when asked), all tunnelling one session to the same Jupyter server; ready when it returns.
 */
export async function startTunnels(id, basePath, jp, { websocket = false, cleanup }) {
  const tunnels = {};
  for (const [name, transport] of [
    ['tunnel', 'auto'],
    ...(websocket ? [['tunnel over WebSocket', 'websocket']] : [])
  ]) {
    const endpoint = await startEndpoint();
    cleanup.push(() => endpoint.stop());
    const s = session(id, basePath);
    await endpoint.addSecrets([[s.sessionId, s.secret]]);
    const target = { ...jp.endpoint, token: jp.token };
    const agents = startAgents(endpoint.tunnelUrl, [s], target, { transport });
    cleanup.push(() => agents.stop());
    await endpoint.waitUp([id]);
    tunnels[name] = { endpoint, agents };
  }
  return tunnels;
}

export function session(id, basePath = `/interlink/sessions/${id}/`) {
  return { sessionId: id, secret: randomBytes(32).toString('hex'), basePath };
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export const fmt = (n, digits = 2) => Number(n).toFixed(digits);

/** `n` executes of `pass` over one kernel WebSocket after `warmup` more: p50, p99 and mean in ms. */
export async function kernelRoundTrips(wsUrl, headers, n, warmup) {
  const kernel = await KernelClient.connect(wsUrl, headers);
  for (let i = 0; i < warmup; i++) await kernel.execute('pass');
  const times = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const r = await kernel.execute('pass');
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (r.status !== 'ok') throw new Error(`execute failed: ${r.status}`);
  }
  kernel.close();
  times.sort((a, b) => a - b);
  return {
    p50: percentile(times, 50),
    p99: percentile(times, 99),
    mean: times.reduce((a, b) => a + b, 0) / n
  };
}
