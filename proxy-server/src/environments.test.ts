/**
 * Environments of a site: the embedded local site offering Debian's Python and the project's
 * virtualenv (PyPI's jupyter_server and ipykernel), the second with setup lines. A session runs
 * its Jupyter server, kernel and batch job in the one it names; an unknown one is a 400 naming
 * the field and the choices.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Session, Site } from '@jupyterlab-interlink/contract';
import { defaultLocalSite } from '@jupyterlab-interlink/vk-bridge';
import { KernelChannel, startKernel } from './testing/kernel-client.js';
import { startLocalProxy, type LocalProxy } from './testing/local-proxy.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const VENV = realpathSync(process.env.INTERLINK_VENV ?? join(REPO, '.venv'));

describe('environments of a site', () => {
  let proxy: LocalProxy;
  before(async () => {
    proxy = await startLocalProxy({
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
      ]
    });
  });
  after(() => proxy?.close());

  async function launch(body: object): Promise<Response> {
    return proxy.request('alice', '/sessions', { method: 'POST', body: JSON.stringify(body) });
  }

  async function until(id: string, states: string[]): Promise<Session> {
    for (let i = 0; i < 600; i++) {
      const s = (await (await proxy.request('alice', `/sessions/${id}`)).json()) as Session;
      if (states.includes(s.state)) return s;
      await new Promise(r => setTimeout(r, 200));
    }
    throw new Error(`session ${id} never ${states.join('/')}`);
  }

  async function kernelSays(session: Session, code: string): Promise<string> {
    const remote = {
      baseUrl: `${proxy.server.url}${session.url}`,
      headers: proxy.headers('alice')
    };
    const channel = await KernelChannel.open(remote, await startKernel(remote));
    try {
      return (await channel.execute(code)).trim();
    } finally {
      channel.close();
    }
  }

  it('lists the environments, and refuses one the site lacks with the choices', async () => {
    const sites = (await (await proxy.request('alice', '/sites')).json()) as Site[];
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
      await proxy.request('alice', `/sessions/${s.id}`, { method: 'DELETE' });
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
    const log = await (await proxy.request('alice', `/sessions/${ended.id}/logs`)).text();
    assert.match(log, new RegExp(`in project: ${VENV}/bin/python`));
  });
});
