/**
 * Environments of a site: the embedded local site offering Debian's Python and the project's
 * virtualenv (PyPI's jupyter_server and ipykernel), the second with setup lines. A session runs
 * its Jupyter server, kernel and batch job in the one it names; an unknown one is a 400 naming
 * the field and the choices.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Session, Site } from '@jupyterlab-interlink/contract';
import { defaultLocalSite } from '@jupyterlab-interlink/vk-bridge';
import { TokenAuthenticator, startProxyServer, type RunningProxyServer } from './index.js';
import { createLogger } from './logging.js';
import { KernelChannel, startKernel } from './testing/kernel-client.js';

const TOKEN = 'alice-token-0123456789';
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const VENV = realpathSync(process.env.INTERLINK_VENV ?? join(REPO, '.venv'));

describe('environments of a site', () => {
  let server: RunningProxyServer;
  let api: string;
  const notebookDir = mkdtempSync(join(tmpdir(), 'environments-'));
  const headers = { authorization: `token ${TOKEN}`, 'content-type': 'application/json' };

  before(async () => {
    server = await startProxyServer({
      sites: [
        {
          ...defaultLocalSite(),
          environments: [
            { id: 'system', displayName: 'Debian Python', python: '/usr/bin/python3' },
            {
              id: 'project',
              displayName: 'Project virtualenv',
              python: join(VENV, 'bin', 'python'),
              setup: `export INTERLINK_TEST_ENV=project\nexport PATH="${VENV}/bin:$PATH"`
            }
          ]
        }
      ],
      auth: new TokenAuthenticator(TOKEN, 'alice'),
      logger: createLogger('warn'),
      workingDir: notebookDir
    });
    api = `${server.url}/interlink/api`;
  });
  after(async () => {
    await server?.close();
    rmSync(notebookDir, { recursive: true, force: true });
  });

  async function launch(body: object): Promise<Response> {
    return fetch(`${api}/sessions`, { method: 'POST', headers, body: JSON.stringify(body) });
  }

  async function until(id: string, states: string[]): Promise<Session> {
    for (let i = 0; i < 600; i++) {
      const s = (await (await fetch(`${api}/sessions/${id}`, { headers })).json()) as Session;
      if (states.includes(s.state)) return s;
      await new Promise(r => setTimeout(r, 200));
    }
    throw new Error(`session ${id} never ${states.join('/')}`);
  }

  async function kernelSays(session: Session, code: string): Promise<string> {
    const remote = { baseUrl: `${server.url}${session.url}`, headers };
    const channel = await KernelChannel.open(remote, await startKernel(remote));
    try {
      return (await channel.execute(code)).trim();
    } finally {
      channel.close();
    }
  }

  it('lists the environments, and refuses one the site lacks with the choices', async () => {
    const sites = (await (await fetch(`${api}/sites`, { headers })).json()) as Site[];
    assert.deepEqual(
      sites[0].environments?.map(e => e.id),
      ['system', 'project']
    );
    const res = await launch({
      site: 'local',
      profile: 'small',
      type: 'kernel',
      environment: 'conda'
    });
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), {
      error: 'invalid_field',
      field: 'environment',
      message: 'environment: site "local" has no environment "conda"; available: system, project'
    });
  });

  it('runs the kernel in the one named, and in the first when none is', async () => {
    const named = await launch({
      site: 'local',
      profile: 'small',
      type: 'kernel',
      environment: 'project'
    });
    const plain = await launch({ site: 'local', profile: 'small', type: 'kernel' });
    assert.equal(named.status, 201);
    assert.equal(plain.status, 201);
    const inProject = await until(((await named.json()) as Session).id, ['ready']);
    const inSystem = await until(((await plain.json()) as Session).id, ['ready']);
    assert.equal(inProject.environment, 'project');
    assert.equal(inSystem.environment, 'system');
    const code = "import os, sys; print(sys.prefix, os.environ.get('INTERLINK_TEST_ENV'))";
    assert.equal(await kernelSays(inProject, code), `${VENV} project`);
    assert.equal(await kernelSays(inSystem, code), '/usr None');
    for (const s of [inProject, inSystem]) {
      await fetch(`${api}/sessions/${s.id}`, { method: 'DELETE', headers });
    }
  });

  it('runs a batch job in it too', async () => {
    const res = await launch({
      site: 'local',
      profile: 'small',
      type: 'job',
      environment: 'project',
      command: ['sh', '-c', 'echo "in $INTERLINK_TEST_ENV: $(command -v python)"']
    });
    assert.equal(res.status, 201);
    const ended = await until(((await res.json()) as Session).id, ['completed', 'failed']);
    assert.equal(ended.state, 'completed', ended.reason);
    const log = await (await fetch(`${api}/sessions/${ended.id}/logs`, { headers })).text();
    assert.match(log, new RegExp(`in project: ${VENV}/bin/python`));
  });
});
