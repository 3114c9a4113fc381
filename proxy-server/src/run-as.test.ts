/**
 * Identity mapping on the embedded local site: two users of one proxy server, the site mapping
 * each to their own Unix account (`runAs.template: ilk-{username}`). Each session's agent, Jupyter
 * server and kernel run as that account, and neither account can read the other's secret file or
 * process environment (where the Jupyter token is).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AGENT_ENV, type Session } from '@jupyterlab-interlink/contract';
import { defaultLocalSite, type SiteConfig } from '@jupyterlab-interlink/vk-bridge';
import { TokenAuthenticator, startProxyServer, type RunningProxyServer } from './index.js';
import { createLogger } from './logging.js';
import {
  TEST_ACCOUNT_TEMPLATE,
  runAs,
  sharedAgentCommand,
  testAccount,
  type TestAccount
} from '@jupyterlab-interlink/vk-bridge/testing';
import { KernelChannel, startKernel } from './testing/kernel-client.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TOKENS = { alice: 'alice-token-0123456789', bob: 'bob-token-0123456789' };

/** uid of a process and one variable of its environment (read as root). */
function processOf(pid: number): { uid: number; env: (name: string) => string | undefined } {
  const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
  const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  return {
    uid,
    env: name => environ.find(kv => kv.startsWith(`${name}=`))?.slice(name.length + 1)
  };
}

describe("jobs run as each user's own account (runAs)", () => {
  let server: RunningProxyServer;
  let api: string;
  let accounts: Record<'alice' | 'bob', TestAccount>;
  const stateDir = mkdtempSync(join(tmpdir(), 'interlink-run-as-'));
  const as = (user: 'alice' | 'bob', init: RequestInit = {}) => ({
    ...init,
    headers: { authorization: `token ${TOKENS[user]}`, 'content-type': 'application/json' }
  });

  before(async () => {
    accounts = { alice: testAccount('alice'), bob: testAccount('bob') };
    const site: SiteConfig = {
      ...defaultLocalSite(),
      runAs: { template: TEST_ACCOUNT_TEMPLATE },
      agentCommand: sharedAgentCommand()
    };
    server = await startProxyServer({
      sites: [site],
      auth: new TokenAuthenticator(
        new Map([
          [TOKENS.alice, 'alice'],
          [TOKENS.bob, 'bob']
        ])
      ),
      stateDir,
      logger: createLogger('warn')
    });
    api = `${server.url}/interlink/api`;
  });
  after(async () => {
    await server?.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  async function readySession(user: 'alice' | 'bob'): Promise<Session> {
    const res = await fetch(
      `${api}/sessions`,
      as(user, {
        method: 'POST',
        body: JSON.stringify({ site: 'local', profile: 'small', type: 'kernel' })
      })
    );
    assert.equal(res.status, 201, await res.clone().text());
    const { id } = (await res.json()) as Session;
    for (let i = 0; i < 300; i++) {
      const s = (await (await fetch(`${api}/sessions/${id}`, as(user))).json()) as Session;
      if (s.state === 'ready' && s.agent?.pid) return s;
      assert.ok(!['failed', 'cancelled'].includes(s.state), JSON.stringify(s));
      await new Promise(r => setTimeout(r, 200));
    }
    const log = await (await fetch(`${api}/sessions/${id}/logs`, as(user))).text();
    throw new Error(`session of ${user} not ready; its log:\n${log}`);
  }

  it('runs agent, server and kernel as the account; the other account reads none of it', async () => {
    const sessions = { alice: await readySession('alice'), bob: await readySession('bob') };
    for (const user of ['alice', 'bob'] as const) {
      const session = sessions[user];
      const account = accounts[user];
      const other = accounts[user === 'alice' ? 'bob' : 'alice'];
      const agent = processOf(session.agent!.pid!);
      assert.equal(agent.uid, account.uid, `${user}'s agent runs as ${account.name}`);
      assert.equal(agent.env('HOME'), account.home);
      const secretFile = agent.env(AGENT_ENV.secretFile)!;
      assert.equal(statSync(secretFile).uid, account.uid);

      // Her kernel, started through the proxy, is a process of her account too.
      const remote = {
        baseUrl: `${server.url}${session.url}`,
        headers: { authorization: `token ${TOKENS[user]}` }
      };
      const channel = await KernelChannel.open(remote, await startKernel(remote));
      assert.equal(
        (await channel.execute('import os; print(os.getuid())')).trim(),
        String(account.uid)
      );
      channel.close();

      // Her own account reads her secret; the other account reads neither it nor her agent's
      // environment (which names where the Jupyter server's token is).
      assert.equal(runAs(account, ['cat', secretFile]).status, 0);
      const readSecret = runAs(other, ['cat', secretFile]);
      assert.notEqual(readSecret.status, 0, `${other.name} read ${user}'s secret`);
      assert.match(readSecret.output, /Permission denied/);
      const readEnv = runAs(other, ['cat', `/proc/${session.agent!.pid}/environ`]);
      assert.notEqual(readEnv.status, 0, `${other.name} read ${user}'s agent environment`);
    }
    for (const user of ['alice', 'bob'] as const) {
      await fetch(`${api}/sessions/${sessions[user].id}`, as(user, { method: 'DELETE' }));
    }
  });

  /** A server of one site whose runAs command answers ilk-alice for everyone. */
  const sameAccountServer = (site: SiteConfig, shared: boolean, state?: string) =>
    startProxyServer({
      sites: [
        {
          ...site,
          runAs: { command: ['echo', accounts.alice.name], shared },
          agentCommand: sharedAgentCommand()
        }
      ],
      auth: new TokenAuthenticator(
        new Map([
          [TOKENS.alice, 'alice'],
          [TOKENS.bob, 'bob']
        ])
      ),
      stateDir: state,
      logger: createLogger('silent')
    });
  const launchOn = (running: RunningProxyServer, site: SiteConfig, user: 'alice' | 'bob') =>
    fetch(
      `${running.url}/interlink/api/sessions`,
      as(user, {
        method: 'POST',
        body: JSON.stringify({ site: site.id, profile: site.profiles[0].id, type: 'kernel' })
      })
    );
  const stopAll = async (running: RunningProxyServer) => {
    const base = `${running.url}/interlink/api/sessions`;
    for (const user of ['alice', 'bob'] as const) {
      const mine = (await (await fetch(base, as(user))).json()) as Session[];
      for (const s of mine) await fetch(`${base}/${s.id}`, as(user, { method: 'DELETE' }));
    }
  };
  const refusal = (site: SiteConfig) => ({
    error: 'no_account',
    message: `site "${site.id}" maps bob to "${accounts.alice.name}", which already runs another user's jobs: one account for two users lets each read the other's secrets and files. Ask the site's admin to give each user their own account (or to set runAs.shared: true).`
  });

  it("refuses a second user mapped to an account that already runs another user's jobs", async () => {
    // A command the start cannot judge: it answers the same account for everyone.
    const site = defaultLocalSite();
    let running = await sameAccountServer(site, false);
    try {
      const first = await launchOn(running, site, 'alice');
      assert.equal(first.status, 201, await first.clone().text());
      assert.equal((await launchOn(running, site, 'alice')).status, 201, 'alice keeps it');
      const second = await launchOn(running, site, 'bob');
      assert.equal(second.status, 403);
      assert.deepEqual(await second.json(), refusal(site));
      await stopAll(running);
    } finally {
      await running.close();
    }

    // The admin said one account for all (runAs.shared): bob's job runs as it too.
    running = await sameAccountServer(site, true);
    try {
      assert.equal((await launchOn(running, site, 'alice')).status, 201);
      const second = await launchOn(running, site, 'bob');
      assert.equal(second.status, 201, await second.clone().text());
      await stopAll(running);
    } finally {
      await running.close();
    }
  });

  it('keeps the account to its user after a restart that re-adopts the job (local Slurm)', async () => {
    execFileSync('bash', [join(REPO, 'scripts/slurm-local.sh'), 'start'], {
      stdio: 'ignore',
      timeout: 120_000
    });
    const conf = execFileSync('bash', [join(REPO, 'scripts/slurm-local.sh'), 'env'])
      .toString()
      .split('=')[1]
      .trim();
    const site: SiteConfig = {
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
    const state = mkdtempSync(join(tmpdir(), 'interlink-run-as-restart-'));
    let running = await sameAccountServer(site, false, state);
    try {
      const first = await launchOn(running, site, 'alice');
      assert.equal(first.status, 201, await first.clone().text());
      await running.close();
      // alice's job, re-adopted from its pod, still holds the account.
      running = await sameAccountServer(site, false, state);
      const second = await launchOn(running, site, 'bob');
      assert.equal(second.status, 403);
      assert.deepEqual(await second.json(), refusal(site));
      await stopAll(running);
    } finally {
      await running.close();
      rmSync(state, { recursive: true, force: true });
    }
  });

  it('refuses a user the site maps to no account, or to one this machine lacks, saying why', async () => {
    const mapped = await startProxyServer({
      sites: [
        {
          ...defaultLocalSite(),
          runAs: { map: { alice: 'ilk-no-such-account' } },
          agentCommand: sharedAgentCommand()
        }
      ],
      auth: new TokenAuthenticator(
        new Map([
          [TOKENS.alice, 'alice'],
          [TOKENS.bob, 'bob']
        ])
      ),
      logger: createLogger('silent')
    });
    try {
      const launch = (user: 'alice' | 'bob') =>
        fetch(
          `${mapped.url}/interlink/api/sessions`,
          as(user, {
            method: 'POST',
            body: JSON.stringify({ site: 'local', profile: 'small', type: 'kernel' })
          })
        );
      const bob = await launch('bob');
      assert.equal(bob.status, 403);
      assert.deepEqual(await bob.json(), {
        error: 'no_account',
        message: 'site "local" maps no account for bob: ask its admin'
      });
      const alice = await launch('alice');
      assert.equal(alice.status, 403);
      assert.match(
        ((await alice.json()) as { message: string }).message,
        /maps alice to "ilk-no-such-account": the account "ilk-no-such-account" does not exist on this machine/
      );
    } finally {
      await mapped.close();
    }
  });
});
