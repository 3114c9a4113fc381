/**
 * The one place that decides which server the tests talk to.
 *
 *   UI_TESTS_FRONT_DOOR=launcher           the JupyterLab launcher alone
 *   UI_TESTS_FRONT_DOOR=proxy (default)     the proxy server's standalone CLI, which starts
 *                                           the launcher behind it (build proxy-server first)
 *
 * Port, token and notebook folder are chosen once, in the runner process, and handed to the
 * worker processes through the environment (workers evaluate the config again).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

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
env.UI_TESTS_FRONT_DOOR ??= 'proxy';
env.UI_TESTS_PORT ??= freePort();
env.UI_TESTS_TOKEN ??= `ui-tests-${Math.random().toString(36).slice(2)}`;
// Notebooks the tests create land in a scratch folder, never in the repository.
env.UI_TESTS_NOTEBOOK_DIR ??= mkdtempSync(join(tmpdir(), 'ui-tests-notebooks-'));

export const frontDoor = env.UI_TESTS_FRONT_DOOR;
export const port = Number(env.UI_TESTS_PORT);
export const token = env.UI_TESTS_TOKEN;
export const notebookDir = env.UI_TESTS_NOTEBOOK_DIR;
/** Origin of the front door; JupyterLab is at `${baseURL}/lab` in both set-ups. */
export const baseURL = `http://127.0.0.1:${port}`;

const python = env.INTERLINK_PYTHON ?? '/usr/bin/python3';

/**
 * With Slurm installed (`scripts/install-system-deps.sh`), the proxy server also offers
 * "Leonardo (local Slurm)": a single-node Slurm started before it. UI_TESTS_SLURM=0 leaves it out.
 */
env.UI_TESTS_SLURM ??=
  spawnSync('sh', ['-c', 'command -v slurmctld && command -v munged']).status === 0 ? '1' : '0';
export const slurm = frontDoor === 'proxy' && env.UI_TESTS_SLURM === '1';

const commands: Record<string, { command: string; ready: string }> = {
  launcher: {
    command: [
      python,
      '-m jupyterlab_interlink.launcher',
      '--ip=127.0.0.1',
      `--port=${port}`,
      `--ServerApp.token=${token}`,
      `--ServerApp.root_dir=${notebookDir}`,
      '--ephemeral'
    ].join(' '),
    ready: `${baseURL}/api`
  },
  proxy: {
    command: [
      ...(slurm ? ['bash scripts/slurm-local.sh start >&2 &&'] : []),
      process.execPath,
      'proxy-server/dist/cli.js',
      `--port ${port}`,
      `--token ${token}`,
      `--notebook-dir ${notebookDir}`,
      ...(slurm ? ['--sites ui-tests/sites-slurm.yaml'] : [])
    ].join(' '),
    ready: `${baseURL}/interlink/healthz`
  }
};

if (!(frontDoor in commands)) {
  throw new Error(`UI_TESTS_FRONT_DOOR must be one of ${Object.keys(commands).join(', ')}`);
}

export const server = {
  ...commands[frontDoor],
  cwd: repoRoot,
  env: {
    ...(env as Record<string, string>),
    PYTHONPATH: [repoRoot, env.PYTHONPATH].filter(Boolean).join(':'),
    // Default settings in every run, whichever front door starts the launcher.
    JUPYTERLAB_INTERLINK_EPHEMERAL: '1'
  }
};
