/**
 * `configure_interlink` (jupyterlab_interlink/hub.py) on its own, in the project's virtualenv:
 * what it adds to a hub configuration an admin already wrote, for single-user servers to front
 * the service on a hub with subdomains (their token's scope, the service's address).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PYTHON = join(process.env.INTERLINK_VENV ?? join(REPO, '.venv'), 'bin', 'python');

/** Runs `setup` (Python, `c` a fresh Config) then configure_interlink; prints `show` as JSON. */
function configured(setup: string, show: string): unknown {
  const script = `
import json
from traitlets.config import Config
from jupyterlab_interlink.hub import configure_interlink
c = Config()
${setup}
configure_interlink(c, sites=[{"id": "local", "displayName": "Here", "driver": "local"}], port=10123)
print(json.dumps(${show}))
`;
  const r = spawnSync(PYTHON, ['-c', script], { encoding: 'utf8', cwd: '/' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test("a server's token gets the service's scope, beside the hub's defaults or the admin's list", () => {
  assert.deepEqual(configured('', 'c.Spawner.server_token_scopes'), [
    'users:activity!user',
    'access:servers!server',
    'access:services!service=interlink'
  ]);
  assert.deepEqual(
    configured(
      "c.Spawner.server_token_scopes = ['read:users!user']",
      'c.Spawner.server_token_scopes'
    ),
    ['read:users!user', 'access:services!service=interlink']
  );
});

test("an admin's callable keeps its say, with the service's scope added", () => {
  assert.deepEqual(
    configured(
      "c.Spawner.server_token_scopes = lambda spawner: ['read:users!user=' + spawner]",
      "c.Spawner.server_token_scopes('ada')"
    ),
    ['read:users!user=ada', 'access:services!service=interlink']
  );
});

test('single-user servers learn where the service answers, unless the admin said otherwise', () => {
  assert.equal(
    configured('', "c.Spawner.environment['JUPYTERLAB_INTERLINK_SERVICE_URL']"),
    'http://127.0.0.1:10123/services/interlink/'
  );
  assert.deepEqual(
    configured(
      "c.JupyterHub.base_url = '/jh/'\nc.Spawner.environment = {'JUPYTERLAB_INTERLINK_SERVICE_URL': 'http://hub:10123/jh/services/interlink/', 'OTHER': '1'}",
      'c.Spawner.environment'
    ),
    { JUPYTERLAB_INTERLINK_SERVICE_URL: 'http://hub:10123/jh/services/interlink/', OTHER: '1' }
  );
});
