/**
 * A real JupyterHub for a spec file (proxy-server/dist/testing/jupyterhub.js, so `npm run build`
 * first): started before its tests, stopped after them, its log kept with the results.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test, type Page } from '@playwright/test';
import { repoRoot } from './frontdoor';

const HARNESS = join(repoRoot, 'proxy-server', 'dist', 'testing', 'jupyterhub.js');

export interface TestHub {
  /** The hub's public URL, as a browser opens it. */
  url: string;
  password: string;
  /** The hub's REST API on its own port, for the test's own calls. */
  api: string;
  /** A token with admin scopes (users, servers, tokens). */
  adminToken: string;
}

/**
 * Declares the spec file's hub: the returned object is filled in before its first test.
 * `args` go to the harness (`--subdomains`).
 */
export function useHub(args: string[] = []): TestHub {
  // No skip: a missing hub, proxy or build fails the suite (scripts/test.sh installs them all).
  if (!existsSync(HARNESS)) throw new Error(`${HARNESS} is missing: run \`npm run build\` first`);
  const hub: TestHub = { url: '', password: '', api: '', adminToken: '' };
  let hubProcess: ChildProcess | undefined;
  let hubLog = '';

  test.beforeAll(async () => {
    test.info().setTimeout(120_000);
    hubProcess = spawn(process.execPath, [HARNESS, ...args], {
      cwd: repoRoot,
      // stdin stays open: the harness stops the hub when it closes, so even a killed test run
      // leaves nothing behind.
      stdio: ['pipe', 'pipe', 'pipe']
    });
    hubProcess.stderr!.on('data', (chunk: Buffer) => {
      hubLog += chunk.toString();
    });
    const lines = createInterface({ input: hubProcess.stdout! });
    Object.assign(
      hub,
      await new Promise<TestHub>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no hub within 100 s:\n${hubLog}`)),
          100_000
        );
        lines.once('line', line => {
          clearTimeout(timer);
          resolve(JSON.parse(line));
        });
        hubProcess!.once('exit', code => {
          clearTimeout(timer);
          reject(new Error(`the hub harness exited with ${code}:\n${hubLog.slice(-4000)}`));
        });
      })
    );
  });

  test.afterAll(async () => {
    const testInfo = test.info();
    testInfo.setTimeout(40_000);
    if (hubProcess && hubProcess.exitCode === null) {
      const exited = new Promise(r => hubProcess!.once('exit', r));
      hubProcess.stdin!.end();
      await Promise.race([exited, new Promise(r => setTimeout(r, 30_000).unref())]);
      if (hubProcess.exitCode === null) hubProcess.kill('SIGKILL');
    }
    await writeFile(testInfo.outputPath('hub.log'), hubLog);
  });
  return hub;
}

/**
 * Signs `user` in on the hub's login page; the hub spawns their server and sends the browser on
 * to its JupyterLab (at `lab`, a URL pattern), which this waits for until it has restored.
 * `beforeSubmit` runs with the form filled in (a screenshot of it).
 */
export async function signInToLab(
  page: Page,
  hub: TestHub,
  user: string,
  lab: string | RegExp,
  beforeSubmit?: () => Promise<void>
): Promise<void> {
  await page.goto(`${hub.url}/hub/login`);
  await page.locator('#username_input').fill(user);
  await page.locator('#password_input').fill(hub.password);
  await beforeSubmit?.();
  await page.locator('#login_submit').click();
  await page.waitForURL(lab, { timeout: 120_000 });
  await page.waitForFunction(() => {
    const app = (window as unknown as { jupyterapp?: { restored: Promise<void> } }).jupyterapp;
    return app ? app.restored.then(() => true) : false;
  });
}
