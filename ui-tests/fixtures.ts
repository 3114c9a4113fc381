/**
 * `test` with a `lab` fixture: Galata's JupyterLab page (loaded and restored by Galata), with the
 * browser console of each test attached to its results (console.txt).
 */
import { writeFile } from 'node:fs/promises';
import { expect, test as galata, type IJupyterLabPageFixture } from '@jupyterlab/galata';

export { expect };

export const test = galata.extend<{ lab: IJupyterLabPageFixture }>({
  // Galata tracks the sessions and kernels a test creates by routing every URL that ends in
  // /api/sessions or /api/kernels, which also catches this extension's own API
  // ({base}/api/sessions answers a remote session, not a Jupyter one) and the remote kernels
  // behind {base}/sessions/{id}/: leave both unrouted; the specs end their sessions themselves.
  // eslint-disable-next-line no-empty-pattern
  sessions: async ({}, use) => use(null),
  // eslint-disable-next-line no-empty-pattern
  kernels: async ({}, use) => use(null),
  lab: async ({ page }, use, testInfo) => {
    const lines: string[] = [];
    page.on('console', msg => lines.push(`[${msg.type()}] ${msg.text()}`));
    page.on('pageerror', err => lines.push(`[pageerror] ${err.stack ?? err.message}`));
    page.on('response', res => {
      if (res.status() >= 400)
        lines.push(`[http ${res.status()}] ${res.request().method()} ${res.url()}`);
    });
    await use(page);
    const file = testInfo.outputPath('console.txt');
    await writeFile(file, lines.join('\n') + '\n');
    await testInfo.attach('console.txt', { path: file, contentType: 'text/plain' });
  }
});
