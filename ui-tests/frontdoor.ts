/**
 * The one place that decides which server the tests talk to: the real `jupyter lab` (JupyterLab
 * from PyPI) of the virtualenv scripts/test.sh made with the wheel installed
 * (UI_TESTS_VENV, default ../.venv), configured by jupyter_server_test_config.py (Galata's
 * settings) — the interLink service runs behind it as it does for users.
 *
 * Port and notebook folder are chosen once, in the runner process, and handed to the worker
 * processes through the environment (workers evaluate the config again).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { serverClockEnv, serverClockFile } from './clock';

export const repoRoot = resolve(__dirname, '..');

function freePort(): string {
  // The config is synchronous; ask a short-lived Node process for a port the OS says is free.
  return execFileSync(process.execPath, [
    '-e',
    "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
  ])
    .toString()
    .trim();
}

const env = process.env;
env.UI_TESTS_PORT ??= freePort();
// Notebooks the tests create land in a scratch folder, never in the repository.
env.UI_TESTS_NOTEBOOK_DIR ??= mkdtempSync(join(tmpdir(), 'ui-tests-notebooks-'));
env.UI_TESTS_VENV ??= join(repoRoot, '.venv');

/** Where remote sessions run: the standalone front door (`jupyter lab` + the wheel). */
export const frontDoor = 'proxy';
export const port = Number(env.UI_TESTS_PORT);
/** Galata's server runs without a token (jupyter_server_test_config.py); headers carry none. */
export const token = '';
export const notebookDir = env.UI_TESTS_NOTEBOOK_DIR;
export const baseURL = `http://127.0.0.1:${port}`;
/** The server's clock (./clock.ts): tests that move time write here. */
export const serverClock = serverClockFile(notebookDir);

/**
 * With Slurm installed (`scripts/install-system-deps.sh`), the service also offers
 * "Leonardo (local Slurm)": a single-node Slurm started before it. UI_TESTS_SLURM=0 leaves it out.
 */
env.UI_TESTS_SLURM ??=
  spawnSync('sh', ['-c', 'command -v slurmctld && command -v munged']).status === 0 ? '1' : '0';
export const slurm = env.UI_TESTS_SLURM === '1';

export const server = {
  command: [
    ...(slurm ? ['bash scripts/slurm-local.sh start >&2 &&'] : []),
    `${env.UI_TESTS_VENV}/bin/jupyter lab`,
    // The Node service on the tests' clock (./clock.ts).
    `--InterlinkExtension.node=${join(repoRoot, 'ui-tests', 'node-on-test-clock')}`,
    '--config ui-tests/jupyter_server_test_config.py'
  ].join(' '),
  ready: `${baseURL}/interlink/healthz`,
  cwd: repoRoot,
  env: {
    ...(env as Record<string, string>),
    INTERLINK_SITES: join(repoRoot, 'ui-tests', slurm ? 'sites-slurm.yaml' : 'sites.yaml'),
    ...serverClockEnv(serverClock),
    // Jobs find a stand-in nvidia-smi first (ui-tests/bin): the usage line shows a GPU.
    PATH: `${join(repoRoot, 'ui-tests', 'bin')}:${env.PATH}`
  }
};
