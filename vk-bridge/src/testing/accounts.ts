/**
 * Unix accounts for tests of identity mapping (a site's `runAs`): made once per machine with
 * useradd (CI runs as root on a fresh machine), and commands run as them with setpriv.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The accounts the tests map hub users to: `ilk-<user>`. */
export const TEST_ACCOUNT_TEMPLATE = 'ilk-{username}';

export interface TestAccount {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** The account, created (with a home) if this machine lacks it. Needs root. */
export function testAccount(user: string): TestAccount {
  const name = TEST_ACCOUNT_TEMPLATE.replace('{username}', user);
  if (process.getuid?.() !== 0) {
    throw new Error('identity mapping tests run as root (they create Unix accounts): CI does');
  }
  if (spawnSync('getent', ['passwd', name]).status !== 0) {
    execFileSync('useradd', ['--create-home', '--shell', '/bin/bash', name]);
  }
  const [, , uid, gid, , home] = execFileSync('getent', ['passwd', name], { encoding: 'utf8' })
    .trim()
    .split(':');
  return { name, uid: Number(uid), gid: Number(gid), home };
}

/** Runs argv as the account; its exit status and output. */
export function runAs(
  account: TestAccount,
  argv: string[]
): { status: number | null; output: string } {
  const r = spawnSync(
    'setpriv',
    [`--reuid=${account.uid}`, `--regid=${account.gid}`, '--init-groups', '--', ...argv],
    { encoding: 'utf8' }
  );
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/**
 * The shipped agent (the self-contained bundle of the wheel installed in the project's
 * virtualenv, as users get it) copied where every account can read it: the checkout itself may
 * sit in a folder only root may enter.
 */
export function sharedAgentCommand(): string[] {
  const repo = fileURLToPath(new URL('../../../', import.meta.url));
  const venv = process.env.INTERLINK_VENV ?? join(repo, '.venv');
  const lib = join(venv, 'lib');
  const python = readdirSync(lib).find(name => name.startsWith('python'));
  const bundle = python
    ? join(lib, python, 'site-packages', 'jupyterlab_interlink', 'node', 'agent', 'cli.js')
    : '';
  if (!existsSync(bundle)) {
    throw new Error(
      `no agent bundle in ${venv}: run scripts/python-env.sh (scripts/build.sh does)`
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'interlink-agent-'));
  chmodSync(dir, 0o755);
  copyFileSync(bundle, join(dir, 'agent.mjs'));
  chmodSync(join(dir, 'agent.mjs'), 0o644);
  return [process.execPath, join(dir, 'agent.mjs')];
}
