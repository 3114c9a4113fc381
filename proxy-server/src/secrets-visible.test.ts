// What another user of the machine can read: every process's command line (`ps`) and the
// product's logs. With `jupyter lab` (the wheel), its Node service, a session's agent, the remote
// Jupyter server and a kernel all running, none of their secrets is in either.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AGENT_ENV } from '@jupyterlab-interlink/contract';
import { readySession, startLab, type Lab, type Session } from './testing/jupyter-lab.js';

/** Every process's environment and command line (root reads them all; tests run as root in CI). */
function processes(): { pid: number; argv: string; env: Map<string, string> }[] {
  const found = [];
  for (const name of readdirSync('/proc').filter(n => /^\d+$/.test(n))) {
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const env = new Map(
        readFileSync(`/proc/${name}/environ`, 'utf8')
          .split('\0')
          .filter(Boolean)
          .map(kv => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as const)
      );
      found.push({ pid: Number(name), argv, env });
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

describe('secrets stay out of ps and the logs', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'interlink-secrets-'));
  let lab: Lab;
  let session: Session;

  before(async () => {
    lab = await startLab(path.join(dir, 'lab'));
    session = await readySession(lab);
    // A kernel on the remote server, so its requests have gone through every hop.
    const kernel = await lab.api('POST', `/sessions/${session.id}/api/kernels`, {
      name: 'python3'
    });
    assert.equal(kernel.status, 201);
  });

  after(async () => {
    await lab?.api('DELETE', `/api/sessions/${session?.id}`).catch(() => {});
    await lab?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('no token or secret on any command line or in the logs', () => {
    const all = processes();
    const service = all.find(p => p.pid === lab.servicePid())!;
    const ofSession = all.filter(p => p.env.get('INTERLINK_SESSION_ID') === session.id);
    const agent = ofSession.find(p => p.env.has(AGENT_ENV.secretFile));
    const server = ofSession.find(p => p.env.has('JUPYTER_TOKEN'));
    assert.ok(service && agent && server, 'the service, the agent and the remote server run');
    const secrets = {
      "the service's secret": readFileSync(service.env.get('INTERLINK_TOKEN_FILE')!, 'utf8'),
      "the session's tunnel secret": readFileSync(agent.env.get(AGENT_ENV.secretFile)!, 'utf8'),
      "the remote Jupyter server's token": server.env.get('JUPYTER_TOKEN')!
    };
    for (const [what, secret] of Object.entries(secrets)) {
      assert.ok(secret.trim().length >= 32, `${what} is a real secret`);
      for (const p of all) {
        assert.ok(!p.argv.includes(secret.trim()), `${what} is on the command line of ${p.argv}`);
      }
      assert.ok(!lab.log().includes(secret.trim()), `${what} is in the logs`);
    }
    // JupyterLab's own token is the user's: it is printed in the URL to open, never on argv.
    for (const p of all) assert.ok(!p.argv.includes(lab.token), `lab token on ${p.argv}`);
  });
});
